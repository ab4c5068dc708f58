// Package corpus writes synthetic audit logs with the shape of a real
// kube-apiserver's, of any size, for benchmarks and load tests. The mix
// follows a large cluster: kubelets heartbeating nodes/status and leases
// every 10 s, kubelets re-reading configmaps and secrets, watches (which log
// ResponseStarted and ResponseComplete), controllers under their own service
// accounts, the scheduler binding pods, a few humans, and 401/403/404/409/422
// errors, with a few percent of events at RequestResponse level carrying
// pod bodies.
//
// It imports no package of this module: it writes bytes, it reads nothing.
package corpus
