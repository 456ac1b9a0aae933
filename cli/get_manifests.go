package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon/api"
)

// manifestsClient is the part of the API client `get manifests` uses.
type manifestsClient interface {
	Manifests(ctx context.Context) ([]api.Manifest, error)
}

var _ manifestsClient = (*api.Client)(nil)

// runGetManifests prints the files of the daemon's manifest directory: a
// table (FILE STATUS OBJECTS APPLIED; -o wide adds the objects and the
// error) or JSON or YAML. STATUS is Applied, or Error when the file as it
// is now was refused (the objects of its last good version keep running).
func runGetManifests(ctx context.Context, client manifestsClient, output string, now time.Time, stdout io.Writer) error {
	if output == outputName {
		return fmt.Errorf("get manifests: -o name is not supported: manifest files are not objects; use wide, json or yaml")
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	ms, err := client.Manifests(ctx)
	if err != nil {
		return err
	}
	if done, err := writeEncoded(stdout, output, ms); done {
		return err
	}
	if len(ms) == 0 {
		_, err := io.WriteString(stdout, "No manifest files.\n")
		return err
	}
	t := newTableWriter(stdout)
	cols := []string{"FILE", "STATUS", "OBJECTS", "APPLIED"}
	if output == outputWide {
		cols = append(cols, "NAMES", "ERROR")
	}
	writeRow(t, cols)
	for _, m := range ms {
		status, applied := "Applied", "<never>"
		if m.Error != "" {
			status = "Error"
		}
		if m.Applied != nil {
			applied = age(metav1.NewTime(*m.Applied), now)
		}
		row := []string{filepath.Base(m.Path), status, strconv.Itoa(len(m.Objects)), applied}
		if output == outputWide {
			names := make([]string, len(m.Objects))
			for i, o := range m.Objects {
				singular, _ := kindNames(o.Kind)
				names[i] = singular + "/" + o.Name
			}
			row = append(row, orNone(strings.Join(names, ",")), orNone(m.Error))
		}
		writeRow(t, row)
	}
	return t.flush()
}
