package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon/api"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:    "image",
		Aliases: []string{"images"},
		Usage:   "import, list and pull container images (containerd, setlet's namespace)",
		Subcommands: []*cli.Command{
			{
				Name:      "import",
				Usage:     "import images from OCI or docker-save archives (- for stdin)",
				ArgsUsage: "FILE...",
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return errors.New("image import needs a FILE (an OCI or docker-save archive) or - for stdin")
					}
					return runImageImport(c.Context, clientOf(c), c.Args().Slice(), c.App.Reader, c.App.Writer)
				},
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list the images",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: json"},
					&cli.BoolFlag{Name: "no-trunc", Usage: "show whole digests"},
				},
				Action: func(c *cli.Context) error {
					if err := noArgs(c, ""); err != nil {
						return err
					}
					opts := imageListOptions{Output: c.String("output"), NoTrunc: c.Bool("no-trunc")}
					if opts.Output != "" && opts.Output != outputJSON {
						return fmt.Errorf("unsupported output format %q: use json", opts.Output)
					}
					return runImageList(c.Context, clientOf(c), opts, c.App.Writer)
				},
			},
			{
				Name:      "pull",
				Usage:     "pull an image from its registry",
				ArgsUsage: "REF",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("image pull needs one image REF, e.g. docker.io/library/busybox:1.36")
					}
					img, err := clientOf(c).PullImage(c.Context, c.Args().First())
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, img.Name)
					return nil
				},
			},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown image command %q: use import, ls or pull", c.Args().First())
			}
			return errors.New("image needs a command: import, ls or pull")
		},
	}
}

// runImageImport streams each archive (or stdin for "-") to the daemon and
// prints the name of every image imported.
func runImageImport(ctx context.Context, client *api.Client, files []string, stdin io.Reader, stdout io.Writer) error {
	for _, file := range files {
		imgs, err := importArchive(ctx, client, file, stdin)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			fmt.Fprintln(stdout, img.Name)
		}
	}
	return nil
}

// importArchive streams one archive, or stdin for "-", to the daemon.
func importArchive(ctx context.Context, client *api.Client, file string, stdin io.Reader) ([]api.Image, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the message already names the file
			}
			return nil, fmt.Errorf("%s: cannot read: %w", file, err)
		}
		defer f.Close()
		r = f
	}
	imgs, err := client.ImportImages(ctx, r)
	switch {
	case errdefs.IsUnavailable(err):
		return nil, err // says all: the daemon is not there
	case err != nil:
		return nil, fmt.Errorf("importing %s: %w", file, err)
	}
	return imgs, nil
}

// imageListOptions are the inputs of `setlet image ls`.
type imageListOptions struct {
	Output  string // "" or json
	NoTrunc bool
	Now     func() time.Time
}

// runImageList prints the images: a table, or the JSON array of api.Image.
func runImageList(ctx context.Context, client *api.Client, opts imageListOptions, stdout io.Writer) error {
	imgs, err := client.Images(ctx)
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		if imgs == nil {
			imgs = []api.Image{}
		}
		return writeJSON(stdout, imgs)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return printImages(stdout, imgs, opts.NoTrunc, opts.Now())
}

// printImages prints the IMAGE DIGEST SIZE CREATED table.
func printImages(w io.Writer, imgs []api.Image, noTrunc bool, now time.Time) error {
	tw := newTableWriter(w)
	writeRow(tw, []string{"IMAGE", "DIGEST", "SIZE", "CREATED"})
	for _, img := range imgs {
		digest := img.Digest
		if !noTrunc {
			digest = shortDigest(digest)
		}
		created := "<unknown>"
		if t, err := time.Parse(time.RFC3339, img.Created); err == nil {
			created = age(metav1.NewTime(t), now) + " ago"
		}
		writeRow(tw, []string{img.Name, digest, humanSize(img.Size), created})
	}
	return tw.flush()
}

// shortDigest cuts "sha256:<64 hex>" to "sha256:<12 hex>", as docker
// shortens image IDs.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

// humanSize writes a byte count in binary units: 512 B, 4.2 MiB.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
