package runtime

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

// Image is an image in the Client's namespace.
type Image struct {
	// Name is the normalized reference, e.g. "docker.io/library/nginx:1.22".
	Name string
	// Digest is the digest of the image's manifest or index.
	Digest string
	// Size is the size of the image's content for this platform
	// (compressed layers, config and manifest) in bytes.
	Size int64
	// Created is when the image was built, from its config (when the
	// image was stored in containerd if its config does not say).
	Created time.Time
}

// NormalizeImage returns the full reference that Kubernetes and docker
// mean by ref: "nginx:1.22" is "docker.io/library/nginx:1.22", a reference
// without tag or digest gets ":latest", and "setlet.local/busybox:1" stays
// as it is. An invalid reference is an errdefs.ErrInvalidArgument-wrapped
// error.
func NormalizeImage(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w: %w", ref, errdefs.ErrInvalidArgument, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// ImportImages stores the images of an image archive read from r, an OCI
// image layout tar (as `ctr images export` and setlet's busybox image
// write) or a `docker save` tar, for the host's platform, and unpacks each
// for the default snapshotter, so that containers start from them without
// further work. Image names are normalized; OCI layouts are named by their
// io.containerd.image.name annotation, or by an
// org.opencontainers.image.ref.name annotation holding a full reference.
// It returns the imported images sorted by name. Importing the same
// archive again changes nothing: ImportImages is idempotent. An archive
// that names no image is an errdefs.ErrInvalidArgument-wrapped error.
func (c *Client) ImportImages(ctx context.Context, r io.Reader) ([]Image, error) {
	ctx = c.nsCtx(ctx)
	imgs, err := c.cd.Import(ctx, r, containerd.WithImageRefTranslator(ociRefName))
	if err != nil {
		return nil, fmt.Errorf("importing images: %w", err)
	}
	names := make(map[string]images.Image)
	is := c.cd.ImageService()
	for _, img := range imgs {
		name, err := NormalizeImage(img.Name)
		if err != nil {
			c.log.Warn("importing images: skipping an image with an invalid name", "name", img.Name, "err", err)
			continue
		}
		if name != img.Name {
			// Store the image under its normalized name only.
			renamed := images.Image{Name: name, Target: img.Target, Labels: img.Labels}
			if renamed, err = updateOrCreate(ctx, is, renamed); err != nil {
				return nil, fmt.Errorf("importing image %s: %w", name, err)
			}
			if err := is.Delete(ctx, img.Name); err != nil && !errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("importing image %s: %w", name, err)
			}
			img = renamed
		}
		names[name] = img
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("importing images: the archive names no image: %w", errdefs.ErrInvalidArgument)
	}
	out := make([]Image, 0, len(names))
	for _, img := range names {
		ci := containerd.NewImage(c.cd, img)
		if err := ci.Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
			return nil, fmt.Errorf("importing image %s: unpacking: %w", img.Name, err)
		}
		out = append(out, c.imageInfo(ctx, ci))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ociRefName names an image of an OCI layout by its
// org.opencontainers.image.ref.name annotation when that holds a full
// reference; a bare tag names nothing.
func ociRefName(ref string) string {
	if !strings.ContainsAny(ref, "/:@") {
		return ""
	}
	name, err := NormalizeImage(ref)
	if err != nil {
		return ""
	}
	return name
}

func updateOrCreate(ctx context.Context, is images.Store, img images.Image) (images.Image, error) {
	updated, err := is.Update(ctx, img, "target")
	if errdefs.IsNotFound(err) {
		return is.Create(ctx, img)
	}
	return updated, err
}

// PullImage pulls ref from its registry (anonymously) for the host's
// platform and unpacks it for the default snapshotter. Pulling an image
// that is present updates it to what the registry has now.
func (c *Client) PullImage(ctx context.Context, ref string) (Image, error) {
	ctx = c.nsCtx(ctx)
	name, err := NormalizeImage(ref)
	if err != nil {
		return Image{}, fmt.Errorf("pulling: %w", err)
	}
	img, err := c.cd.Pull(ctx, name, containerd.WithPullUnpack)
	if err != nil {
		return Image{}, fmt.Errorf("pulling image %s: %w", name, err)
	}
	return c.imageInfo(ctx, img), nil
}

// Images returns every image of the Client's namespace, sorted by name.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	ctx = c.nsCtx(ctx)
	list, err := c.cd.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	out := make([]Image, 0, len(list))
	for _, img := range list {
		out = append(out, c.imageInfo(ctx, img))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Image returns the local image ref (normalized first); an absent image is
// an errdefs.ErrNotFound-wrapped error.
func (c *Client) Image(ctx context.Context, ref string) (Image, error) {
	ctx = c.nsCtx(ctx)
	name, err := NormalizeImage(ref)
	if err != nil {
		return Image{}, err
	}
	img, err := c.cd.GetImage(ctx, name)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", name, err)
	}
	return c.imageInfo(ctx, img), nil
}

// EnsureImage makes image ref available as Kubernetes' imagePullPolicy
// says: Always pulls (and fails when the pull fails, even with a local
// image), IfNotPresent (or "") uses the local image and pulls only when
// there is none, Never uses the local image or fails with an
// errdefs.ErrNotFound-wrapped error saying the policy is Never. pulled
// reports whether a pull happened. An unknown policy is an
// errdefs.ErrInvalidArgument-wrapped error.
func (c *Client) EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy) (img Image, pulled bool, err error) {
	switch policy {
	case corev1.PullAlways:
		img, err := c.PullImage(ctx, ref)
		return img, err == nil, err
	case corev1.PullIfNotPresent, "", corev1.PullNever:
	default:
		return Image{}, false, fmt.Errorf("image %s: unknown pull policy %q: %w", ref, policy, errdefs.ErrInvalidArgument)
	}
	img, err = c.Image(ctx, ref)
	switch {
	case err == nil:
		return img, false, nil
	case !errdefs.IsNotFound(err):
		return Image{}, false, err
	case policy == corev1.PullNever:
		return Image{}, false, fmt.Errorf("image %s is not present and its pull policy is Never: %w", ref, errdefs.ErrNotFound)
	}
	img, err = c.PullImage(ctx, ref)
	return img, err == nil, err
}

// imageInfo describes img; what cannot be read (size, config) stays zero.
func (c *Client) imageInfo(ctx context.Context, img containerd.Image) Image {
	meta := img.Metadata()
	out := Image{Name: meta.Name, Digest: meta.Target.Digest.String(), Created: meta.CreatedAt}
	if size, err := img.Size(ctx); err == nil {
		out.Size = size
	}
	if spec, err := img.Spec(ctx); err == nil && spec.Created != nil && !spec.Created.IsZero() {
		out.Created = *spec.Created
	}
	return out
}
