// Command setlet runs Kubernetes StatefulSets on one Linux host without a
// cluster. Everything it does lives in the cli package; main only runs it.
package main

import (
	"os"

	"github.com/setlet/setlet/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
