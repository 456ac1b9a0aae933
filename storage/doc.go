// Package storage owns setlet's state file: one bbolt database holding the
// applied objects, ControllerRevisions, pod records, volume records and a
// bounded event log, plus the per-ordinal volume directories
// (/var/lib/setlet/volumes/<name>/ by default).
//
// storage may import configs and bbolt. It must not import daemon, runtime,
// network, dns or cli, and no bbolt type appears in its exported API.
//
// # Basics
//
// Open a store once per process and share it; a *Store is safe for
// concurrent use:
//
//	st, err := storage.Open("/var/lib/setlet/state.db")
//	if err != nil {
//		return err // ErrLocked: another daemon runs; ErrNewerSchema: downgrade
//	}
//	defer st.Close()
//
// Work happens in transactions given to closures, as in bbolt. Update runs
// one read-write transaction at a time and commits it when the closure
// returns nil; View runs read-only transactions in parallel with it. A
// change of several steps is atomic when it is made in one Update, for
// example deleting a StatefulSet with everything it owns:
//
//	err := st.Update(func(tx *storage.Tx) error {
//		revs, err := tx.Revisions(ns, name)
//		...
//		for _, rev := range revs {
//			if err := tx.DeleteRevision(ns, rev.Name); err != nil {
//				return err // nothing of the Update is kept
//			}
//		}
//		...
//		return tx.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: ns, Name: name})
//	})
//
// The common single-step calls also exist on *Store (st.Apply, st.Pods,
// st.AddEvents, ...); each runs its own transaction.
//
// Objects are kept as JSON of their Kubernetes types and every getter
// decodes a fresh copy, so callers may change what they get. Errors carry
// the github.com/containerd/errdefs classes (NotFound, AlreadyExists,
// InvalidArgument, FailedPrecondition, Conflict, Unavailable), wrapped
// where they happen; test them with errors.Is, never by message.
//
// # Bucket tree
//
//	meta/
//	    schema                  uint64 big-endian: the number of migrations applied
//	objects/
//	    StatefulSet/ Service/ ConfigMap/ Secret/
//	        <namespace>/
//	            <name>          JSON of the applied object (with generation)
//	revisions/
//	    <namespace>/
//	        <set>/              the StatefulSet that controls the revisions
//	            <name>          JSON ControllerRevision, "<set>-<hash>"
//	pods/
//	    <namespace>/
//	        <name>              JSON Pod record, "<set>-<ordinal>"
//	volumes/
//	    <name>                  JSON Volume, "<claim>-<set>-<ordinal>"
//	events/
//	    <seq>                   uint64 big-endian key; JSON Event
//	manifests/                  made when first written (older binaries ignore it)
//	    <path>                  JSON Manifest: a file of the manifest directory
//
// Revisions are nested by set so that the revisions of "web" and of
// "web-x" never mix; namespace and set buckets are removed when their last
// key goes. Pods are found for a set through their controller owner
// reference.
//
// # Schema
//
// The meta/schema key counts the migrations applied to the file. Open runs
// the missing ones, in order, in one transaction, and refuses a file whose
// version is above what this binary knows (ErrNewerSchema) without
// touching it. A migration is never changed once released; testdata/ keeps
// files written at older versions, and a test opens each of them.
//
// # Caveats
//
// A Tx must not be kept or used after its closure returns, and must not be
// shared between goroutines. A long View holds old pages and makes the
// file grow; a long Update blocks every other Update.
//
// Every commit is synced to disk, so an Update costs an fsync: batch
// related writes (all documents of an apply, all events of a reconcile
// pass) into one.
//
// Only one process can open the state file; Open waits for the lock at most
// the lock timeout (WithLockTimeout) and never hangs.
//
// Generation is tracked for all four kinds, ConfigMaps and Secrets
// included, although Kubernetes leaves it unset for those two.
//
// Volume directories live outside the database, so EnsureVolume and
// DeleteVolume are methods of *Store, not of *Tx: a transaction cannot roll
// a directory back. Both are ordered so that repeating the call after a
// crash finishes it. A recorded volume whose directory has vanished is an
// error (its data is lost), never silently replaced by an empty one; only
// DeleteVolume deletes volume data.
//
// The event log keeps the newest events only (WithEventLimit); event keys
// are sequence numbers, so the log's order survives clock jumps.
package storage
