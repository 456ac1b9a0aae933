package busybox

import "runtime"

// goarch returns the image architecture: the host's, since the image holds
// the host's busybox binary.
func goarch() string { return runtime.GOARCH }
