module dagger/trivial

go 1.25.0
