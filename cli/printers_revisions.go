package cli

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// revisionColumns are kubectl's ControllerRevision columns.
func revisionColumns(bool) []string { return []string{"NAME", "CONTROLLER", "REVISION", "AGE"} }

// revisionRow is kubectl's ControllerRevision row: the owning set as
// statefulset.apps/NAME.
func revisionRow(obj object, now time.Time, _ printOptions) []string {
	rev := obj.(*appsv1.ControllerRevision)
	controller := "<none>"
	if ref := metav1.GetControllerOf(rev); ref != nil {
		controller = "statefulset.apps/" + ref.Name
	}
	return []string{rev.Name, controller, strconv.FormatInt(rev.Revision, 10), age(rev.CreationTimestamp, now)}
}
