package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs lets flags follow arguments, as kubectl users type them
// (`setlet get pods -o wide`, `setlet exec web-0 -it -- sh`): urfave/cli/v2
// stops parsing flags at a command's first argument. It returns args with,
// for the command named, the global flags moved before the command, the
// command's own flags next, then "--" and the arguments in their order.
// Everything after a "--" stays an argument; combined short flags ("-it")
// are split. Unknown flags are kept where urfave/cli reports them; a flag
// that lacks its value is an error, as urfave/cli would report it.
func reorderArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args, nil
	}
	rest := args[1:]
	var global []string
	i := 0
	for i < len(rest) && isFlagArg(rest[i]) {
		n := max(flagArgs(app.Flags, rest[i:]), 1)
		global = append(global, rest[i:i+n]...)
		i += n
	}
	if i == len(rest) {
		return args, nil
	}
	cmd := findCommand(app.Commands, rest[i])
	if cmd == nil {
		return args, nil
	}
	path := []string{rest[i]}
	i++
	for len(cmd.Subcommands) > 0 && i < len(rest) {
		sub := findCommand(cmd.Subcommands, rest[i])
		if sub == nil {
			break
		}
		path = append(path, rest[i])
		cmd = sub
		i++
	}
	if cmd.SkipFlagParsing {
		return args, nil
	}

	var own, positional []string
	for i < len(rest) {
		arg := rest[i]
		switch {
		case arg == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case !isFlagArg(arg):
			positional = append(positional, arg)
			i++
		case flagArgs(cmd.Flags, rest[i:]) < 0 || flagArgs(app.Flags, rest[i:]) < 0:
			return nil, fmt.Errorf("flag needs an argument: %s", arg)
		case flagArgs(cmd.Flags, rest[i:]) > 0:
			n := flagArgs(cmd.Flags, rest[i:])
			own = append(own, rest[i:i+n]...)
			i += n
		case flagArgs(app.Flags, rest[i:]) > 0:
			n := flagArgs(app.Flags, rest[i:])
			global = append(global, rest[i:i+n]...)
			i += n
		default:
			own = append(own, splitShortFlags(cmd.Flags, arg)...)
			i++
		}
	}
	out := append([]string{args[0]}, global...)
	out = append(out, path...)
	out = append(out, own...)
	help := slices.ContainsFunc(own, func(a string) bool { return a == "-h" || a == "--help" })
	if len(positional) > 0 && !help { // `get pods -h` is help for get
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out, nil
}

// isFlagArg reports whether arg looks like a flag ("-" alone is stdin).
func isFlagArg(arg string) bool {
	return len(arg) > 1 && arg[0] == '-'
}

// flagArgs returns how many of args (args[0] being a flag) the flag
// takes: 1 for a boolean flag or one written -f=value, 2 for a flag
// followed by its value, -1 for a flag that needs a value and is last,
// 0 when flags has no flag of that name. -h and --help are known to every
// command.
func flagArgs(flags []cli.Flag, args []string) int {
	name, _, inline := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
	if name == "h" || name == "help" {
		return 1
	}
	for _, f := range flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch {
		case inline || !takesValue(f):
			return 1
		case len(args) < 2:
			return -1
		}
		return 2
	}
	return 0
}

// takesValue reports whether a flag needs a value after it.
func takesValue(f cli.Flag) bool {
	switch f := f.(type) {
	case *cli.BoolFlag:
		return false
	case *cli.GenericFlag:
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			return false
		}
	}
	return true
}

// splitShortFlags splits "-it" into "-i", "-t" when every letter is a
// boolean flag of flags; otherwise it returns arg as it is.
func splitShortFlags(flags []cli.Flag, arg string) []string {
	if len(arg) < 3 || arg[1] == '-' || strings.Contains(arg, "=") {
		return []string{arg}
	}
	var out []string
	for _, r := range arg[1:] {
		i := slices.IndexFunc(flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), string(r)) })
		if i < 0 || takesValue(flags[i]) {
			return []string{arg}
		}
		out = append(out, "-"+string(r))
	}
	return out
}

// findCommand returns the command of cmds called name (or an alias).
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if slices.Contains(c.Names(), name) {
			return c
		}
	}
	return nil
}
