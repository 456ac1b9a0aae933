// Package dns will own the embedded DNS server and its record table, which
// give every replica a stable name such as web-0.nginx.set.local.
//
// Nothing is implemented here yet; the DNS issue brings it. dns must not
// import runtime, network, storage, daemon or cli.
package dns
