package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/configs"
)

// validateOptions are the inputs of `setlet validate`.
type validateOptions struct {
	Files  []string // files, directories or "-" for stdin
	Output string   // "" (text) or "json"
}

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check manifests offline, as the daemon will check them on apply",
		ArgsUsage: " ",
		Description: "Decodes every document of every file (or directory, or - for stdin), applies\n" +
			"Kubernetes defaults and validates it. Prints \"ok\" for each good object and one line\n" +
			"per problem (file, document, object, field path) otherwise; exits 1 on any problem.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "manifest `FILE`, directory or - (repeatable)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: json"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("validate takes no arguments, got %q: use -f FILE", c.Args().First())
			}
			opts := validateOptions{Files: c.StringSlice("filename"), Output: c.String("output")}
			if len(opts.Files) == 0 {
				return errors.New("validate needs -f FILE, -f DIR or -f - (stdin)")
			}
			return runValidate(opts, c.App.Reader, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// validateResult is one object in `validate -o json` output. The field
// names are a stable contract.
type validateResult struct {
	Source    string            `json:"source"`
	Index     int               `json:"index"`
	Item      int               `json:"item,omitempty"`
	Kind      string            `json:"kind,omitempty"`
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	OK        bool              `json:"ok"`
	Problems  []configs.Problem `json:"problems,omitempty"`
}

// runValidate loads opts.Files and reports on every object: "ok" lines on
// stdout, problems on stderr (or everything as JSON on stdout). It returns
// errSilent when anything was wrong, after reporting it.
func runValidate(opts validateOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	if opts.Output != "" && opts.Output != "json" {
		return fmt.Errorf("unsupported output format %q: use json", opts.Output)
	}
	docs, err := configs.Load(opts.Files, stdin)
	var cerr *configs.Error
	if err != nil && !errors.As(err, &cerr) {
		return err
	}

	if opts.Output == "json" {
		results := []validateResult{}
		for _, d := range docs {
			results = append(results, validateResult{
				Source: d.Source, Index: d.Index, Item: d.Item, Kind: d.Kind, Name: d.Name,
				Namespace: d.Namespace, OK: len(d.Problems) == 0, Problems: d.Problems,
			})
		}
		out := struct {
			Objects  []validateResult  `json:"objects"`
			Problems []configs.Problem `json:"problems"`
		}{Objects: results, Problems: []configs.Problem{}}
		if cerr != nil {
			out.Problems = cerr.Problems
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if cerr != nil {
			return errSilent
		}
		return nil
	}

	for _, d := range docs {
		if len(d.Problems) == 0 {
			fmt.Fprintf(stdout, "%s: ok\n", d.String())
		}
	}
	if cerr == nil {
		return nil
	}
	for _, p := range cerr.Problems {
		fmt.Fprintln(stderr, p.String())
	}
	return errSilent
}
