module example.com/finding

go 1.25.0
