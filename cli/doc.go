// Package cli is the urfave/cli/v2 application behind the setlet binary:
// every user command. A command's action only fills an options struct and
// calls a plain function that writes to the io.Writers it is given, so the
// commands are tested without the CLI framework.
//
// cli may import configs (for client-side validation) and the API types; it
// talks to the daemon only through the API client.
package cli
