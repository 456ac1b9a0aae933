// Command mkimage builds setlet's test and demo image from the host's
// busybox-static binary, with no download (see internal/busybox):
//
//	go run ./tools/mkimage -o bin/busybox.tar [-name setlet.local/busybox:1] [-busybox /bin/busybox]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/setlet/setlet/internal/busybox"
)

func main() {
	out := flag.String("o", "bin/busybox.tar", "archive to write")
	name := flag.String("name", busybox.DefaultName, "image name recorded in the archive")
	bin := flag.String("busybox", busybox.DefaultBinary, "static busybox binary to put in the image")
	flag.Parse()
	digest, err := busybox.Build(*out, *name, *bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s (%s)\n", *out, *name, digest)
}
