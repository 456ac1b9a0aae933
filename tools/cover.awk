# cover.awk reads a Go coverage profile and checks the statement coverage
# of the parts whose floor the project keeps: the configs and storage
# packages and the StatefulSet planner (the daemon's pure planning files).
# Usage: awk -v min=80 -f tools/cover.awk bin/cover.out
function group(file) {
	if (file ~ /\/configs\/[^\/]+\.go$/) return "configs"
	if (file ~ /\/storage\/[^\/]+\.go$/) return "storage"
	if (file ~ /\/daemon\/(planner|planner_utils|revisions|status|pod)\.go$/) return "planner (daemon)"
	return ""
}
NR > 1 {
	split($1, parts, ":")
	g = group(parts[1])
	if (g == "") next
	# A block can appear once per test binary that covers it; count it once.
	if (!($1 in seen)) { seen[$1] = 1; total[g] += $2 }
	if ($3 > 0 && !($1 in hit)) { hit[$1] = 1; covered[g] += $2 }
}
END {
	bad = 0
	for (name in total) {
		pct = 100 * covered[name] / total[name]
		printf "coverage of %-17s %5.1f%%\n", name, pct
		if (pct < min) { printf "  below the %d%% floor\n", min; bad = 1 }
	}
	if (!("configs" in total) || !("storage" in total) || !("planner (daemon)" in total)) {
		print "coverage profile lacks a group"; bad = 1
	}
	exit bad
}
