//go:build linux

package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupCode asks the kernel to reclaim the pages of the setlet
// binary that this process has mapped (MADV_PAGEOUT, Linux 5.4 and
// later). Starting the daemon touches megabytes of code that an idle
// daemon never runs again (decoding, recovery, the CLI's parts of the
// binary, plus the kernel's fault-around of everything near them); these
// clean pages would be reclaimed under memory pressure anyway, and on a
// small edge host they are better given back at once. What runs later
// faults back in. It only ever drops clean, file-backed pages, never data;
// on kernels without MADV_PAGEOUT it does nothing.
func releaseStartupCode() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Only the binary's read-only and executable mappings: its
		// writable data mapping holds live variables.
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		// The range is a mapping of the binary, not Go memory: pass the
		// addresses to the system call as they are.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_PAGEOUT)
	}
}
