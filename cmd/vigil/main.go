// Command vigil is Vigil's single binary: the server, the offline hunter,
// the search client and the detection-as-code tools.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
