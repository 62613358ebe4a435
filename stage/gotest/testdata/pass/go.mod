module example.com/pass

go 1.25.0
