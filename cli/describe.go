package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon/api"
)

// describeOptions are the inputs of `setlet describe`.
type describeOptions struct {
	Resource  resourceKind // sets or pods
	Names     []string
	Namespace string
	Now       func() time.Time
}

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a set or a pod in detail, with its events, as kubectl describe does",
		ArgsUsage: "set|pod NAME...",
		Description: "Prints kubectl's describe layout. When a set has stopped short (a pod not created\n" +
			"yet) or a pod is not Ready, a Waiting line near the top says exactly why.",
		Action: func(c *cli.Context) error {
			res, names, err := resourceArgs("describe", c.Args().Slice())
			if err != nil {
				return err
			}
			if res.Name != "sets" && res.Name != "pods" {
				return fmt.Errorf("describe %s: only sets and pods can be described; use get %s", res.Name, res.Name)
			}
			if len(names) == 0 {
				return fmt.Errorf("describe %s needs a NAME", res.Name)
			}
			opts := describeOptions{Resource: res, Names: names, Namespace: c.String("namespace")}
			return runDescribe(c.Context, clientOf(c), opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runDescribe describes each named set or pod, separated by blank lines
// as kubectl separates them; names that do not exist are reported on
// stderr and make it return errSilent.
func runDescribe(ctx context.Context, client *api.Client, opts describeOptions, stdout, stderr io.Writer) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	resource := "statefulsets"
	if opts.Resource.Name == "pods" {
		resource = "pods"
	}
	missing, first := false, true
	for _, name := range opts.Names {
		raw, err := client.Describe(ctx, resource, opts.Namespace, name)
		if errdefs.IsNotFound(err) {
			fmt.Fprintln(stderr, notFoundLine(opts.Resource, name))
			missing = true
			continue
		}
		if err != nil {
			return err
		}
		if !first {
			io.WriteString(stdout, "\n\n")
		}
		first = false
		if err := describeRaw(stdout, opts.Resource.Name, raw, opts.Now()); err != nil {
			return err
		}
	}
	if missing {
		return errSilent
	}
	return nil
}

// describeRaw decodes a daemon's describe answer and prints it.
func describeRaw(w io.Writer, resource string, raw api.RawDescribe, now time.Time) error {
	var events []corev1.Event
	if err := decodeOptional(raw.Events, &events); err != nil {
		return err
	}
	if resource == "pods" {
		var pod corev1.Pod
		if err := json.Unmarshal(raw.Object, &pod); err != nil {
			return fmt.Errorf("decoding the pod: %w", err)
		}
		return describePod(w, &pod, events, raw.Waiting, raw.DNSNames, now)
	}
	var set appsv1.StatefulSet
	if err := json.Unmarshal(raw.Object, &set); err != nil {
		return fmt.Errorf("decoding the set: %w", err)
	}
	var pods []corev1.Pod
	var volumes []corev1.PersistentVolumeClaim
	if err := decodeOptional(raw.Pods, &pods); err != nil {
		return err
	}
	if err := decodeOptional(raw.Volumes, &volumes); err != nil {
		return err
	}
	return describeSet(w, &set, pods, volumes, events, raw.Waiting, now)
}

// decodeOptional decodes raw into v unless it is empty or null.
func decodeOptional(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decoding %T: %w", v, err)
	}
	return nil
}

// describeSet prints a set as kubectl describe statefulset does, with the
// reason it waits (when it does) near the top and, after the claim
// templates, the volumes it has made with their host directories.
func describeSet(out io.Writer, set *appsv1.StatefulSet, pods []corev1.Pod, volumes []corev1.PersistentVolumeClaim, events []corev1.Event, waiting string, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	w := &prefixWriter{tw}
	w.write(0, "Name:\t%s\n", set.Name)
	w.write(0, "Namespace:\t%s\n", set.Namespace)
	if waiting != "" {
		w.write(0, "Waiting:\t%s\n", waiting)
	}
	w.write(0, "CreationTimestamp:\t%s\n", set.CreationTimestamp.Time.Format(time.RFC1123Z))
	selector := metav1.FormatLabelSelector(set.Spec.Selector)
	if s, err := metav1.LabelSelectorAsSelector(set.Spec.Selector); err == nil {
		selector = s.String()
	}
	w.write(0, "Selector:\t%s\n", selector)
	printLabels(w, "", "Labels", set.Labels)
	printAnnotations(w, "Annotations", set.Annotations)
	w.write(0, "Replicas:\t%d desired | %d total\n", desiredReplicas(set), set.Status.Replicas)
	w.write(0, "Update Strategy:\t%s\n", set.Spec.UpdateStrategy.Type)
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		w.write(1, "Partition:\t%d\n", *ru.Partition)
		if ru.MaxUnavailable != nil {
			w.write(1, "MaxUnavailable:\t%s\n", ru.MaxUnavailable.String())
		}
	}
	var running, pending, succeeded, failed int
	for _, p := range pods {
		switch p.Status.Phase {
		case corev1.PodRunning:
			running++
		case corev1.PodPending:
			pending++
		case corev1.PodSucceeded:
			succeeded++
		case corev1.PodFailed:
			failed++
		}
	}
	w.write(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed\n", running, pending, succeeded, failed)
	describePodTemplate(w, &set.Spec.Template)
	describeClaimTemplates(w, set.Spec.VolumeClaimTemplates)
	describeSetVolumes(w, volumes)
	describeEvents(w, events, now)
	return tw.Flush()
}

// describeSetVolumes lists a set's volumes with their host directories.
func describeSetVolumes(w *prefixWriter, volumes []corev1.PersistentVolumeClaim) {
	if len(volumes) == 0 {
		w.write(0, "Volumes:\t<none>\n")
		return
	}
	w.flush()
	w.write(0, "Volumes:\n  Name\tStatus\tCapacity\tPath\n")
	w.write(1, "----\t------\t--------\t----\n")
	for _, v := range volumes {
		q := v.Status.Capacity[corev1.ResourceStorage]
		w.write(1, "%s\t%s\t%s\t%s\n", v.Name, v.Status.Phase, q.String(), orNone(v.Annotations[api.VolumePathAnnotation]))
	}
	w.flush()
}

// describeClaimTemplates prints a set's volumeClaimTemplates.
func describeClaimTemplates(w *prefixWriter, templates []corev1.PersistentVolumeClaim) {
	if len(templates) == 0 {
		w.write(0, "Volume Claims:\t<none>\n")
		return
	}
	w.write(0, "Volume Claims:\n")
	for i := range templates {
		pvc := &templates[i]
		w.write(1, "Name:\t%s\n", pvc.Name)
		w.write(1, "StorageClass:\t%s\n", claimClass(pvc))
		printLabels(w, "  ", "Labels", pvc.Labels)
		printLabels(w, "  ", "Annotations", pvc.Annotations)
		if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			w.write(1, "Capacity:\t%s\n", q.String())
		} else {
			w.write(1, "Capacity:\t%s\n", "<default>")
		}
		w.write(1, "Access Modes:\t%s\n", pvc.Spec.AccessModes)
	}
}

// describeEvents prints kubectl's Events table, oldest first.
func describeEvents(w *prefixWriter, events []corev1.Event, now time.Time) {
	if len(events) == 0 {
		w.write(0, "Events:\t<none>\n")
		return
	}
	w.flush()
	events = append([]corev1.Event(nil), events...)
	sortEvents(events)
	w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
	w.write(1, "----\t------\t----\t----\t-------\n")
	for i := range events {
		e := &events[i]
		first := microAge(e.EventTime, now)
		if e.EventTime.IsZero() {
			first = age(e.FirstTimestamp, now)
		}
		interval := first
		switch {
		case e.Series != nil:
			interval = fmt.Sprintf("%s (x%d over %s)", microAge(e.Series.LastObservedTime, now), e.Series.Count, first)
		case e.Count > 1:
			interval = fmt.Sprintf("%s (x%d over %s)", age(e.LastTimestamp, now), e.Count, first)
		}
		source := e.Source.Component
		if source == "" {
			source = e.ReportingController
		}
		w.write(1, "%v\t%v\t%s\t%v\t%v\n", e.Type, e.Reason, interval, source, strings.TrimSpace(e.Message))
	}
}

// prefixWriter writes lines indented two spaces per level, as kubectl's
// describe does, into a tab writer that aligns the values.
type prefixWriter struct {
	tw *tabwriter.Writer
}

func (w *prefixWriter) write(level int, format string, a ...any) {
	fmt.Fprintf(w.tw, strings.Repeat("  ", level)+format, a...)
}

// flush ends the current alignment block: a table after it lines up on
// its own.
func (w *prefixWriter) flush() {
	_ = w.tw.Flush()
}

// maxAnnotationLen is where kubectl cuts long annotation values.
const maxAnnotationLen = 140

// printLabels prints a label map one key=value per line, sorted, or
// <none>.
func printLabels(w *prefixWriter, indent, title string, labels map[string]string) {
	w.write(0, "%s%s:\t", indent, title)
	if len(labels) == 0 {
		w.write(0, "<none>\n")
		return
	}
	keys := sortedKeys(labels)
	for i, k := range keys {
		if i > 0 {
			w.write(0, "%s\t", indent)
		}
		w.write(0, "%s=%s\n", k, labels[k])
	}
}

// printAnnotations prints annotations as kubectl does: "key: value",
// sorted, long or multi-line values on lines of their own, kubectl's
// last-applied-configuration left out.
func printAnnotations(w *prefixWriter, title string, annotations map[string]string) {
	w.write(0, "%s:\t", title)
	var keys []string
	for _, k := range sortedKeys(annotations) {
		if k != corev1.LastAppliedConfigAnnotation {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		w.write(0, "<none>\n")
		return
	}
	for i, k := range keys {
		if i > 0 {
			w.write(0, "\t")
		}
		value := strings.TrimSuffix(annotations[k], "\n")
		if len(value)+len(k)+2 > maxAnnotationLen || strings.Contains(value, "\n") {
			w.write(0, "%s:\n", k)
			for _, s := range strings.Split(value, "\n") {
				if len(s) > maxAnnotationLen-2 {
					s = s[:maxAnnotationLen-2] + "..."
				}
				w.write(0, "\t  %s\n", s)
			}
			continue
		}
		w.write(0, "%s: %s\n", k, value)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
