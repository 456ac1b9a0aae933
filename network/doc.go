// Package network owns pod networking: each pod's network namespace (a
// bind-mounted file per pod), its attachment to one CNI network through
// libcni (ADD, CHECK, DEL), the default bridge conflist, and host port
// mappings through the portmap plugin.
//
// network imports the CNI library (libcni and its types), netlink, netns,
// golang.org/x/sys, containerd's errdefs and internal/proc. It must not
// import runtime, dns, storage, daemon or cli: the daemon wires it to them,
// through a small interface of its own.
//
// # Basics
//
// A daemon makes one Manager and shares it; a *Manager is safe for
// concurrent use by many pods at once:
//
//	m, err := network.New(network.Config{
//		Bridge:   "setlet0",
//		Subnet:   "10.88.0.0/16",
//		ConfDir:  "/etc/setlet/cni",   // a *.conflist here replaces the default
//		NetnsDir: "/run/setlet/netns",
//		DataDir:  "/var/lib/setlet/cni",
//	}, log)
//	if err != nil {
//		return err // NotFound: a plugin is missing; InvalidArgument: bad config
//	}
//
// New checks everything it can without touching the host: the config, the
// conflist, and that every plugin it names is installed and speaks its CNI
// version. The netns directory, the bridge and the state directories
// appear with the first Setup.
//
// A pod incarnation is an Attachment: its ID (the pod UID, the CNI
// container ID), its pod name (the name of its namespace file) and its host
// ports. Setup creates the namespace and runs ADD; the runtime then starts
// the pod's containers in Result.NetNS:
//
//	res, err := m.Setup(ctx, network.Attachment{ID: uid, Pod: "web-0", Namespace: "default"})
//	// res.NetNS = /run/setlet/netns/web-0, res.IP = 10.88.0.5, res.Gateway = 10.88.0.1
//	...
//	err = m.Teardown(ctx, network.Attachment{ID: uid, Pod: "web-0"})
//
// Both are idempotent and crash-safe: run either again after a crash, a
// failed call or a reboot, and it finishes the job without allocating a
// second IP or leaking one. At start-up the daemon reconciles with
// Namespaces (namespace files of pods it does not know: Teardown with the
// pod name only) and Attachments (cached attachments it does not know:
// Teardown with the ID only). Errors carry errdefs classes: InvalidArgument
// for a bad Attachment or Config, Conflict for a namespace that belongs to
// another incarnation, NotFound for a missing plugin.
//
// # On the host
//
//	<NetnsDir>/                      a shared mount point (as /run/netns for `ip netns`)
//	    <pod>                        the pod's network namespace, bind-mounted
//	    .owners/<pod>                the attachment ID the namespace belongs to
//	<DataDir>/
//	    ipam/<network>/<ip>          host-local's allocations (default conflist)
//	    cache/results/<network>-<ID>-eth0   libcni's cached ADD: config, args, result
//	bridge <Bridge>, gateway = first host of Subnet, added by the bridge plugin
//	nat POSTROUTING -> CNI-<hash>    the bridge plugin's masquerade, per attachment
//	nat CNI-HOSTPORT-DNAT -> CNI-DN-<hash>   portmap's DNAT, per attachment with ports
//
// The default network is named "setlet-<Bridge>": daemons with different
// bridges never share IPAM state or iptables chains. It is IPv4 only.
//
// # Concurrency
//
// Calls for the same pod name are serialised (a waiting call gives up
// when its context ends); calls for different pods run in parallel, plugins
// included. Nothing else needs a lock: host-local locks its allocation
// directory, libcni keeps one cache file per attachment, and the plugins
// serialise their own iptables changes. Namespace work runs on a
// goroutine whose OS thread is locked and, unless it could not be put
// back into its namespace (then the runtime ends it), unlocked afterwards.
//
// # Caveats
//
//   - A Setup that finds an attachment cached but broken (eth0 gone, rules
//     flushed, the namespace recreated after a reboot: anything the plugins'
//     CHECK rejects) detaches and attaches it again, which may change the
//     pod's IP. Callers take the IP from Setup's result, always.
//   - When a pod's namespace is gone before Teardown (removed by hand, or
//     after a reboot), the bridge plugin's DEL cannot find the pod's
//     address, and so releases its IP but leaves its masquerade chain.
//     Teardown then runs DEL in a throw-away stand-in namespace whose eth0
//     carries the cached addresses, which the plugin finds and cleans up.
//     After a reboot the chain is gone already, and Debian's bridge 1.1.1
//     fails on the missing chain (iptables-nft exits 2, which its
//     go-iptables does not take for "does not exist"); Teardown then runs
//     DEL again without the stand-in, which succeeds.
//   - Plugins run with the daemon's environment: PATH must reach iptables
//     (/usr/sbin). Their standard error is logged as a warning.
//   - Left on the host on purpose: the bridge (shared by all pods; the
//     daemon or the admin deletes it), net.ipv4.ip_forward=1 (set by the
//     bridge plugin's isGateway), portmap's shared chains CNI-HOSTPORT-DNAT,
//     -SETMARK and -MASQ, and NetnsDir's own bind mount.
//   - A user conflist is used as written: without a dataDir in its
//     host-local IPAM, its allocations live in /var/lib/cni/networks, shared
//     with any other runtime that uses the same network name.
//   - The default conflist's cniVersion is 1.0.0, the newest Debian 12's
//     plugins (1.1.1) speak; a user conflist asking for 1.1.0 is refused by
//     New (FailedPrecondition). CNI GC and STATUS (1.1.0) are not used.
package network
