package audit

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// GKE does not write audit.k8s.io events: its Kubernetes audit logs are
// Cloud Audit Logs LogEntries (protoPayload, producer k8s.io). gkeEvent
// rebuilds an audit event from one, as far as the entry tells:
//   - verb from methodName ("io.k8s.core.v1.pods.create"), objectRef from
//     resourceName ("core/v1/namespaces/default/pods/web/exec");
//   - user, source IP and user agent from authenticationInfo and
//     requestMetadata; the authorization annotations from labels;
//   - the response code from the gRPC status (7 → 403, 16 → 401, ...),
//     200/201 when there is none;
//   - request and response bodies when logged.
//
// GKE writes one entry per request with a single timestamp, so latency is
// unknown (0), and the code is approximate: several HTTP codes share a gRPC
// code (422 and 400 are both INVALID_ARGUMENT; 422 is assumed).
func gkeEvent(v *fastjson.Value, dst []byte) ([]byte, bool) {
	p := v.Get("protoPayload")
	if p == nil || string(p.GetStringBytes("serviceName")) != "k8s.io" && !strings.HasPrefix(string(p.GetStringBytes("methodName")), "io.k8s.") {
		return dst, false
	}
	method := string(p.GetStringBytes("methodName"))
	verb := method
	if i := strings.LastIndexByte(method, '.'); i >= 0 {
		verb = method[i+1:]
	}
	if verb == "" {
		return dst, false
	}
	id := string(v.GetStringBytes("operation", "id"))
	if id == "" {
		id = string(v.GetStringBytes("insertId"))
	}
	ts := string(v.GetStringBytes("timestamp"))
	code := 200
	if verb == "create" {
		code = 201
	}
	if st := p.Get("status"); st != nil && st.GetInt("code") != 0 {
		code = grpcToHTTP(st.GetInt("code"))
	}
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	b.WriteString(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":`)
	level := "Metadata"
	if p.Exists("request") {
		level = "Request"
	}
	if p.Exists("response") {
		level = "RequestResponse"
	}
	b.WriteString(str(level))
	b.WriteString(`,"auditID":` + str(id) + `,"stage":"ResponseComplete","verb":` + str(verb))
	b.WriteString(`,"requestURI":` + str("/"+string(p.GetStringBytes("resourceName"))))
	b.WriteString(`,"user":{"username":` + str(string(p.GetStringBytes("authenticationInfo", "principalEmail"))) + `}`)
	if ip := string(p.GetStringBytes("requestMetadata", "callerIp")); ip != "" {
		b.WriteString(`,"sourceIPs":[` + str(ip) + `]`)
	}
	b.WriteString(`,"userAgent":` + str(string(p.GetStringBytes("requestMetadata", "callerSuppliedUserAgent"))))
	if ref, ok := gkeObjectRef(string(p.GetStringBytes("resourceName"))); ok {
		b.WriteString(`,"objectRef":` + ref)
	}
	b.WriteString(`,"responseStatus":{"code":`)
	b.WriteString(strconv.Itoa(code))
	if msg := string(p.GetStringBytes("status", "message")); msg != "" {
		b.WriteString(`,"message":` + str(msg))
	}
	b.WriteString(`}`)
	if r := p.Get("request"); r != nil {
		b.WriteString(`,"requestObject":` + r.String())
	}
	if r := p.Get("response"); r != nil {
		b.WriteString(`,"responseObject":` + r.String())
	}
	// A LogEntry has one time: when the request was received. It tells no
	// latency, so no stageTimestamp is made up.
	b.WriteString(`,"requestReceivedTimestamp":` + str(ts))
	if labels := v.Get("labels"); labels != nil && labels.Type() == fastjson.TypeObject {
		b.WriteString(`,"annotations":` + labels.String())
	}
	b.WriteString(`}`)
	return append(dst, b.String()...), true
}

// gkeObjectRef turns "apps/v1/namespaces/shop/deployments/checkout/scale"
// into an objectRef, resolved as a request's path is (resourceIn).
func gkeObjectRef(name string) (string, bool) {
	seg := strings.Split(strings.Trim(name, "/"), "/")
	if len(seg) < 3 {
		return "", false
	}
	group := seg[0]
	if group == "core" {
		group = ""
	}
	r, ok := resourceIn(group, seg[1], seg[2:])
	if !ok {
		return "", false
	}
	ref := map[string]string{"resource": r.resource, "apiVersion": r.version}
	for k, v := range map[string]string{"apiGroup": r.group, "namespace": r.namespace, "name": r.name, "subresource": r.sub} {
		if v != "" {
			ref[k] = v
		}
	}
	b, err := json.Marshal(ref)
	return string(b), err == nil
}

func grpcToHTTP(c int) int {
	switch c {
	case 1:
		return 499
	case 3:
		return 422
	case 4:
		return 504
	case 5:
		return 404
	case 6, 10:
		return 409
	case 7:
		return 403
	case 8:
		return 429
	case 9:
		return 400
	case 12:
		return 405
	case 14:
		return 503
	case 16:
		return 401
	}
	return 500
}
