module example.com/fail

go 1.25.0
