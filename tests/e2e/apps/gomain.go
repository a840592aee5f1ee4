package main

import (
	"fmt"
	"os"
)

func main() { fmt.Println("go", os.Getenv("PYTHONPATH") == ""); os.Exit(6) }
