package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/daemon/api"
)

// getOptions are the inputs of `setlet get`.
type getOptions struct {
	Resource      resourceKind
	Names         []string // empty: every object
	Namespace     string
	AllNamespaces bool
	Output        string // "", wide, json, yaml or name
	Watch         bool
	Node          string // the host name, NODE of pods that name none
	Now           func() time.Time
}

// getClient is the part of *api.Client that get uses.
type getClient interface {
	StatefulSets(ctx context.Context, ns string) ([]appsv1.StatefulSet, error)
	StatefulSet(ctx context.Context, ns, name string) (*appsv1.StatefulSet, error)
	Pods(ctx context.Context, ns string) ([]corev1.Pod, error)
	Pod(ctx context.Context, ns, name string) (*corev1.Pod, error)
	Volumes(ctx context.Context, ns string) ([]corev1.PersistentVolumeClaim, error)
	Services(ctx context.Context, ns string) ([]corev1.Service, error)
	Events(ctx context.Context, ns, kind, name string) ([]corev1.Event, error)
	AllRevisions(ctx context.Context, ns string) ([]appsv1.ControllerRevision, error)
	Watch(ctx context.Context, resource, ns string, fn func(ev api.RawWatchEvent) error) error
}

var _ getClient = (*api.Client)(nil)

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "list sets, pods, volumes, services or events, as kubectl get does, or the DNS records",
		ArgsUsage: "sets|pods|volumes|services|events|revisions [NAME...] | dns [NAME]",
		Description: "Prints a table like kubectl's; -o wide adds columns, -o json and -o yaml print the\n" +
			"Kubernetes objects (a v1 List, or the object alone for one NAME), -o name prints TYPE/NAME.\n" +
			"-w prints the table, then one row for every change until interrupted.\n" +
			"Types: sets (set, statefulsets, sts), pods (pod, po), volumes (volume, pvc, pvcs),\n" +
			"services (service, svc), events (event, ev), revisions (controllerrevisions); TYPE/NAME works\n" +
			"too (sts/web).\n" +
			"get dns lists the records the DNS server answers with; NAME selects those of a pod, a\n" +
			"service or an owner name. get manifests lists the files of the daemon's manifest\n" +
			"directory, each Applied or Error (then its last good version keeps running).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: wide, json, yaml or name"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "after listing, print every change until interrupted"},
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list the objects of every namespace"},
		},
		Action: func(c *cli.Context) error {
			if args := c.Args().Slice(); len(args) > 0 && strings.EqualFold(args[0], "dns") {
				if len(args) > 2 {
					return fmt.Errorf("get dns takes at most one NAME, got %d", len(args)-1)
				}
				if c.Bool("watch") {
					return errors.New("get dns -w: DNS records cannot be watched; use get pods -w")
				}
				return runGetDNS(c.Context, clientOf(c), c.Args().Get(1), c.String("output"), c.App.Writer)
			}
			if args := c.Args().Slice(); len(args) > 0 && strings.EqualFold(args[0], "manifests") {
				if len(args) > 1 || c.Bool("watch") {
					return errors.New("get manifests takes no NAME and cannot be watched")
				}
				return runGetManifests(c.Context, clientOf(c), c.String("output"), time.Now(), c.App.Writer)
			}
			res, names, err := resourceArgs("get", c.Args().Slice())
			if err != nil {
				return err
			}
			opts := getOptions{
				Resource: res, Names: names, Namespace: c.String("namespace"),
				AllNamespaces: c.Bool("all-namespaces"), Output: c.String("output"), Watch: c.Bool("watch"),
				Node: hostName(),
			}
			return runGet(c.Context, clientOf(c), opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// resourceArgs reads "TYPE [NAME...]" or "TYPE/NAME..." arguments.
func resourceArgs(command string, args []string) (resourceKind, []string, error) {
	if len(args) == 0 {
		return resourceKind{}, nil, fmt.Errorf("%s needs a resource type: %s", command, resourceNames)
	}
	typ, name, slash := splitTypeName(args[0])
	res, ok := lookupResource(typ)
	if !ok {
		return resourceKind{}, nil, fmt.Errorf("unknown resource type %q: use %s", typ, resourceNames)
	}
	if !slash {
		return res, args[1:], nil
	}
	names := []string{name}
	for _, arg := range args[1:] {
		t, n, ok := splitTypeName(arg)
		if !ok {
			return resourceKind{}, nil, fmt.Errorf("there is no need to give a resource type as a separate argument when using TYPE/NAME: use %s/%s or %s %s", typ, arg, typ, arg)
		}
		if r, ok := lookupResource(t); !ok || r.Name != res.Name {
			return resourceKind{}, nil, fmt.Errorf("%s %s: all TYPE/NAME arguments must name the same type", command, arg)
		}
		names = append(names, n)
	}
	if slices.Contains(names, "") {
		return resourceKind{}, nil, fmt.Errorf("%s: TYPE/NAME needs a NAME", command)
	}
	return res, names, nil
}

// runGet prints the objects opts selects, then, with opts.Watch, every
// change until ctx ends. Names that do not exist are reported on stderr
// as kubectl reports them, and make it return errSilent.
func runGet(ctx context.Context, client getClient, opts getOptions, stdout, stderr io.Writer) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if opts.AllNamespaces && len(opts.Names) > 0 {
		return errors.New("a resource cannot be retrieved by name across all namespaces")
	}
	if opts.Watch && opts.Resource.WatchPath == "" {
		return fmt.Errorf("get %s -w: the daemon cannot stream %s changes; only sets, pods, volumes and events can be watched", opts.Resource.Name, opts.Resource.Name)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ns := opts.Namespace
	if opts.AllNamespaces {
		ns = ""
	}
	objs, missing, err := fetch(ctx, client, opts.Resource, ns, opts.Names)
	if err != nil {
		return err
	}
	p := newObjectPrinter(opts.Resource, opts.Output, opts.AllNamespaces, opts.Node, opts.Now, stdout)
	switch {
	case opts.Watch && !p.isTable():
		// As kubectl: in a watch, objects one by one, never a List.
		for _, obj := range objs {
			if err := p.printObject(obj); err != nil {
				return err
			}
		}
	case len(objs) > 0 || len(opts.Names) == 0:
		if err := p.printBatch(objs, len(opts.Names) == 1); err != nil {
			return err
		}
	}
	for _, name := range missing {
		fmt.Fprintln(stderr, notFoundLine(opts.Resource, name))
	}
	if len(missing) > 0 {
		return errSilent
	}
	if len(objs) == 0 && len(opts.Names) == 0 && p.isTable() {
		fmt.Fprintln(stderr, noResources(ns))
	}
	if !opts.Watch {
		return nil
	}
	return watch(ctx, client, p, ns, opts.Names, objs)
}

// noResources is kubectl's message for an empty list.
func noResources(ns string) string {
	if ns == "" {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", ns)
}

// fetch returns the objects of res in ns: every one, or those named (in
// the order given), with the names that do not exist.
func fetch(ctx context.Context, client getClient, res resourceKind, ns string, names []string) ([]object, []string, error) {
	if len(names) > 0 && (res.Name == "pods" || res.Name == "sets") {
		var objs []object
		var missing []string
		for _, name := range names {
			obj, err := getOne(ctx, client, res, ns, name)
			switch {
			case errdefs.IsNotFound(err):
				missing = append(missing, name)
			case err != nil:
				return nil, nil, err
			default:
				objs = append(objs, obj)
			}
		}
		return objs, missing, nil
	}
	all, err := list(ctx, client, res, ns)
	if err != nil || len(names) == 0 {
		return all, nil, err
	}
	var objs []object
	var missing []string
	for _, name := range names {
		i := slices.IndexFunc(all, func(o object) bool { return o.GetName() == name })
		if i < 0 {
			missing = append(missing, name)
			continue
		}
		objs = append(objs, all[i])
	}
	return objs, missing, nil
}

// getOne returns one set or pod.
func getOne(ctx context.Context, client getClient, res resourceKind, ns, name string) (object, error) {
	if res.Name == "pods" {
		return client.Pod(ctx, ns, name)
	}
	return client.StatefulSet(ctx, ns, name)
}

// list returns every object of res in ns ("" for all namespaces); events
// oldest first.
func list(ctx context.Context, client getClient, res resourceKind, ns string) ([]object, error) {
	switch res.Name {
	case "sets":
		items, err := client.StatefulSets(ctx, ns)
		return objects(items), err
	case "pods":
		items, err := client.Pods(ctx, ns)
		return objects(items), err
	case "volumes":
		items, err := client.Volumes(ctx, ns)
		return objects(items), err
	case "services":
		items, err := client.Services(ctx, ns)
		return objects(items), err
	case "revisions":
		items, err := client.AllRevisions(ctx, ns)
		return objects(items), err
	case "events":
		items, err := client.Events(ctx, ns, "", "")
		sortEvents(items)
		return objects(items), err
	}
	return nil, fmt.Errorf("cannot list %s", res.Name)
}

// objects turns a slice of Kubernetes objects into objects.
func objects[T any, PT interface {
	*T
	object
}](items []T) []object {
	out := make([]object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

// watch prints every change of the objects of p's kind in ns (only those
// named, when names are given) until ctx ends, which is not an error. The
// stream starts with every present object; those already printed, as
// they were listed, are skipped.
func watch(ctx context.Context, client getClient, p *objectPrinter, ns string, names []string, listed []object) error {
	seen := make(map[string][]byte, len(listed))
	for _, obj := range listed {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		seen[obj.GetNamespace()+"/"+obj.GetName()] = b
	}
	err := client.Watch(ctx, p.res.WatchPath, ns, func(ev api.RawWatchEvent) error {
		obj, err := p.res.decode(ev.Object)
		if err != nil {
			return fmt.Errorf("watching %s: %w", p.res.Name, err)
		}
		if len(names) > 0 && !slices.Contains(names, obj.GetName()) {
			return nil
		}
		key := obj.GetNamespace() + "/" + obj.GetName()
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		if ev.Type == "DELETED" {
			delete(seen, key)
		} else {
			if old, ok := seen[key]; ok && bytes.Equal(old, b) {
				return nil
			}
			seen[key] = b
		}
		return p.printObject(obj)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
