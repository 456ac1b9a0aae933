package cli

import (
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func eventColumns(wide bool) []string {
	if wide {
		return []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"}
	}
	return []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
}

// eventRow is kubectl's Event row; OBJECT is kind/name in lower case
// ("pod/web-0").
func eventRow(obj object, now time.Time, opts printOptions) []string {
	ev := obj.(*corev1.Event)
	first := age(ev.FirstTimestamp, now)
	if ev.FirstTimestamp.IsZero() {
		first = microAge(ev.EventTime, now)
	}
	last := age(ev.LastTimestamp, now)
	if ev.LastTimestamp.IsZero() {
		last = first
	}
	count := ev.Count
	if ev.Series != nil {
		last = microAge(ev.Series.LastObservedTime, now)
		count = ev.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		target += "/" + ev.InvolvedObject.Name
	}
	message := strings.TrimSpace(ev.Message)
	if !opts.Wide {
		return []string{last, ev.Type, ev.Reason, target, message}
	}
	return []string{last, ev.Type, ev.Reason, target, ev.InvolvedObject.FieldPath,
		eventSource(ev), message, first, strconv.Itoa(int(count)), ev.Name}
}

// eventSource is kubectl's SOURCE: "component, host".
func eventSource(ev *corev1.Event) string {
	component, instance := ev.Source.Component, ev.Source.Host
	if component == "" {
		component = ev.ReportingController
	}
	if instance == "" {
		instance = ev.ReportingInstance
	}
	if instance == "" {
		return component
	}
	return component + ", " + instance
}

// microAge is age for a MicroTime.
func microAge(t metav1.MicroTime, now time.Time) string {
	return age(metav1.NewTime(t.Time), now)
}

// eventTime is when an event was last seen, for sorting.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil:
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.EventTime.Time
}

// sortEvents puts events oldest first; events of the same time keep the
// daemon's order.
func sortEvents(evs []corev1.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(&evs[i]).Before(eventTime(&evs[j])) })
}
