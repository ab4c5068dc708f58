package bucket

// The fixtures put the audit log a real kube-apiserver v1.37.2 wrote
// (examples/audit.log.gz, 1625 events in hour 05 of 2026-11-25) into each
// provider's layout and envelope, as the providers document them (the
// sources are cited in testdata/LAYOUTS.md):
//
//   - AKS: diagnostic setting → storage account, container
//     insights-logs-kube-audit, blob resourceId=/SUBSCRIPTIONS/…/
//     MANAGEDCLUSTERS/NAME/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json, JSON
//     Lines ("each record delimited by a newline, with no outer records
//     array", Azure Monitor, since 2018-11-01), each record with the event
//     as a string in properties.log.
//   - GKE: Cloud Logging sink → Cloud Storage, objects
//     cloudaudit.googleapis.com/activity/YYYY/MM/DD/HH:00:00_HH:59:59_S0.json
//     ("organized in directory hierarchies by log type and date", "sharded
//     … Sn or An"), one LogEntry per line with protoPayload.
//   - EKS via a subscription filter → Firehose → S3: default prefix
//     YYYY/MM/dd/HH/ and name <stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>;
//     records "Base64 encoded and compressed with the gzip format" by
//     CloudWatch Logs, concatenated by Firehose "without any delimiters"
//     unless the newline option is on; the decompression feature with
//     message extraction delivers the bare messages.
//   - EKS via a CloudWatch Logs export task: <destinationPrefix>/<task id>/
//     <stream>/000000.gz, "<time> <message>" lines, and the
//     aws-logs-write-test object the task writes first.
//
// To exercise pruning the events are spread over six hours: chunk i keeps
// its recorded times shifted by i hours.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	baseHour = time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	tsField  = regexp.MustCompile(`"(requestReceivedTimestamp|stageTimestamp)":"2026-11-25T05:`)
)

const hours = 6

type hourChunk struct {
	hour  time.Time
	lines []string // audit events, one JSON object each
}

// recorded returns the example log's lines, split over six hours.
func recorded(t testing.TB) []hourChunk {
	t.Helper()
	f, err := os.Open("../../examples/audit.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1625 {
		t.Fatalf("examples/audit.log.gz: %d lines, want the 1625 recorded", len(lines))
	}
	chunks := make([]hourChunk, hours)
	for i := range chunks {
		h := baseHour.Add(time.Duration(i) * time.Hour)
		chunks[i].hour = h
		for _, l := range lines[i*len(lines)/hours : (i+1)*len(lines)/hours] {
			chunks[i].lines = append(chunks[i].lines, tsField.ReplaceAllString(l, fmt.Sprintf(`"$1":"2026-11-25T%02d:`, h.Hour())))
		}
	}
	return chunks
}

type event struct {
	AuditID                  string    `json:"auditID"`
	Stage                    string    `json:"stage"`
	Verb                     string    `json:"verb"`
	UserAgent                string    `json:"userAgent"`
	SourceIPs                []string  `json:"sourceIPs"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	User                     struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource   string `json:"resource"`
		Namespace  string `json:"namespace"`
		Name       string `json:"name"`
		APIGroup   string `json:"apiGroup"`
		APIVersion string `json:"apiVersion"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func parse(t testing.TB, line string) event {
	t.Helper()
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("not an audit event: %v: %.200s", err, line)
	}
	return e
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const aksResource = "/SUBSCRIPTIONS/0B3E4C52-1C2D-4E5F-8A9B-0C1D2E3F4A5B/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD"

// aksObjects: one PT1H.json per hour, JSON Lines of diagnostic records.
func aksObjects(t testing.TB, chunks []hourChunk) map[string][]byte {
	objs := map[string][]byte{}
	for _, c := range chunks {
		var b bytes.Buffer
		for _, l := range c.lines {
			e := parse(t, l)
			b.Write(mustJSON(t, map[string]any{
				"category":      "kube-audit",
				"operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
				"resourceId":    aksResource,
				"time":          e.RequestReceivedTimestamp.Format(time.RFC3339Nano),
				"properties": map[string]any{
					"log": l, "stream": "stdout", "pod": "kube-apiserver-7d9c6b5f4-x2x9q",
					"containerID": "5c7d1f0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d",
				},
			}))
			b.WriteByte('\n')
		}
		key := fmt.Sprintf("resourceId=%s/y=%04d/m=%02d/d=%02d/h=%02d/m=00/PT1H.json", aksResource,
			c.hour.Year(), c.hour.Month(), c.hour.Day(), c.hour.Hour())
		objs[key] = b.Bytes()
	}
	return objs
}

// gkeEntry writes an event as the Cloud Audit Logs LogEntry GKE logs for
// a request (one per request: the stages are not logged apart).
func gkeEntry(t testing.TB, l string) []byte {
	e := parse(t, l)
	method, resource := "io.k8s."+e.Verb, ""
	if r := e.ObjectRef; r != nil {
		group := r.APIGroup
		if group == "" {
			group = "core"
		}
		method = fmt.Sprintf("io.k8s.%s.%s.%s.%s", group, r.APIVersion, r.Resource, e.Verb)
		resource = fmt.Sprintf("%s/%s", group, r.APIVersion)
		if r.Namespace != "" {
			resource += "/namespaces/" + r.Namespace
		}
		resource += "/" + r.Resource
		if r.Name != "" {
			resource += "/" + r.Name
		}
	}
	ip := ""
	if len(e.SourceIPs) > 0 {
		ip = e.SourceIPs[0]
	}
	payload := map[string]any{
		"@type":              "type.googleapis.com/google.cloud.audit.AuditLog",
		"serviceName":        "k8s.io",
		"methodName":         method,
		"resourceName":       resource,
		"authenticationInfo": map[string]any{"principalEmail": e.User.Username},
		"requestMetadata":    map[string]any{"callerIp": ip, "callerSuppliedUserAgent": e.UserAgent},
	}
	if e.ResponseStatus != nil && e.ResponseStatus.Code >= 400 {
		payload["status"] = map[string]any{"code": map[int]int{401: 16, 403: 7, 404: 5, 409: 10, 422: 3, 429: 8}[e.ResponseStatus.Code], "message": "failed"}
	}
	return mustJSON(t, map[string]any{
		"insertId":         e.AuditID + "-" + e.Stage,
		"logName":          "projects/prod-project/logs/cloudaudit.googleapis.com%2Factivity",
		"operation":        map[string]any{"id": e.AuditID, "producer": "k8s.io", "first": true, "last": true},
		"protoPayload":     payload,
		"resource":         map[string]any{"type": "k8s_cluster", "labels": map[string]any{"cluster_name": "gke-prod", "location": "europe-west1", "project_id": "prod-project"}},
		"timestamp":        e.RequestReceivedTimestamp.Format(time.RFC3339Nano),
		"receiveTimestamp": e.RequestReceivedTimestamp.Add(2 * time.Second).Format(time.RFC3339Nano),
		"severity":         "NOTICE",
	})
}

func gkeObjects(t testing.TB, chunks []hourChunk) map[string][]byte {
	objs := map[string][]byte{}
	for _, c := range chunks {
		var b bytes.Buffer
		for _, l := range c.lines {
			b.Write(gkeEntry(t, l))
			b.WriteByte('\n')
		}
		h := c.hour.Hour()
		key := fmt.Sprintf("cloudaudit.googleapis.com/activity/%04d/%02d/%02d/%02d:00:00_%02d:59:59_S0.json",
			c.hour.Year(), c.hour.Month(), c.hour.Day(), h, h)
		objs[key] = b.Bytes()
	}
	return objs
}

const (
	eksGroup  = "/aws/eks/eks-prod/cluster"
	eksStream = "kube-apiserver-audit-5f3c2a0e9b8d7c6a5f4e3d2c1b0a9f8e"
)

func cwlRecord(t testing.TB, lines []string, n int) []byte {
	var evs []map[string]any
	for i, l := range lines {
		e := parse(t, l)
		evs = append(evs, map[string]any{
			"id":        fmt.Sprintf("%056d", n*1000+i),
			"timestamp": e.RequestReceivedTimestamp.UnixMilli(),
			"message":   l,
		})
	}
	return mustJSON(t, map[string]any{
		"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": eksGroup, "logStream": eksStream,
		"subscriptionFilters": []string{"audit-to-firehose"}, "logEvents": evs,
	})
}

func controlRecord(t testing.TB) []byte {
	return mustJSON(t, map[string]any{
		"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
		"subscriptionFilters": []string{},
		"logEvents": []map[string]any{{"id": "", "timestamp": baseHour.UnixMilli(),
			"message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}},
	})
}

// firehoseObjects: two objects per hour, each Firehose delivery variant
// in turn: gzip'd records concatenated (the default); the same gzip'd once
// more by Firehose (.gz); decompressed records, newline-delimited; bare
// messages (message extraction) concatenated; the same newline-delimited.
func firehoseObjects(t testing.TB, chunks []hourChunk) map[string][]byte {
	objs := map[string][]byte{}
	for i, c := range chunks {
		for half := range 2 {
			lines := c.lines[half*len(c.lines)/2 : (half+1)*len(c.lines)/2]
			var b bytes.Buffer
			ext := ""
			variant := (2*i + half) % 5
			for k := 0; k < len(lines); k += 40 {
				batch := lines[k:min(k+40, len(lines))]
				switch variant {
				case 0, 1:
					if i == 0 && half == 0 && k == 0 {
						b.Write(gz(t, controlRecord(t)))
					}
					b.Write(gz(t, cwlRecord(t, batch, k)))
				case 2:
					b.Write(cwlRecord(t, batch, k))
					b.WriteByte('\n')
				case 3:
					for _, l := range batch {
						b.WriteString(l)
					}
				case 4:
					for _, l := range batch {
						b.WriteString(l + "\n")
					}
				}
			}
			data := b.Bytes()
			if variant == 1 {
				data, ext = gz(t, data), ".gz"
			}
			at := c.hour.Add(time.Duration(3+half*30)*time.Minute + 12*time.Second)
			key := fmt.Sprintf("firehose/%s/eks-audit-stream-1-%s-%08x-1c2d-4e5f-8a9b-0c1d2e3f4a5b%s",
				at.Format("2006/01/02/15"), at.Format("2006-01-02-15-04-05"), 0x5f3c2a00+2*i+half, ext)
			objs[key] = data
		}
	}
	return objs
}

// exportObjects: one export task over the six hours, two streams, each
// cut into 000000.gz, 000001.gz, plus the permission check object.
func exportObjects(t testing.TB, chunks []hourChunk) map[string][]byte {
	var all []string
	for _, c := range chunks {
		all = append(all, c.lines...)
	}
	objs := map[string][]byte{"export/aws-logs-write-test": []byte("Permission Check Successful")}
	task := "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	for s := range 2 {
		stream := fmt.Sprintf("kube-apiserver-audit-%032x", s+0xa1)
		part := all[s*len(all)/2 : (s+1)*len(all)/2]
		for k := range 2 {
			var b bytes.Buffer
			for _, l := range part[k*len(part)/2 : (k+1)*len(part)/2] {
				e := parse(t, l)
				b.WriteString(e.RequestReceivedTimestamp.UTC().Format("2006-01-02T15:04:05.000Z") + " " + l + "\n")
			}
			objs[fmt.Sprintf("export/%s/%s/%06d.gz", task, stream, k)] = gz(t, b.Bytes())
		}
	}
	return objs
}

// idsOf returns the auditID (or GKE operation id) of each line.
func idsOf(t testing.TB, data []byte) []string {
	t.Helper()
	var ids []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v struct {
			AuditID    string `json:"auditID"`
			Properties struct {
				Log string `json:"log"`
			} `json:"properties"`
			Operation struct {
				ID string `json:"id"`
			} `json:"operation"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line the reader would reject: %v: %.200q", err, line)
		}
		switch {
		case v.AuditID != "":
			ids = append(ids, v.AuditID)
		case v.Properties.Log != "":
			ids = append(ids, parse(t, v.Properties.Log).AuditID)
		case v.Operation.ID != "":
			ids = append(ids, v.Operation.ID)
		default:
			t.Fatalf("line with no audit event: %.200q", line)
		}
	}
	return ids
}

func idsOfChunks(t testing.TB, chunks []hourChunk) []string {
	var ids []string
	for _, c := range chunks {
		for _, l := range c.lines {
			ids = append(ids, parse(t, l).AuditID)
		}
	}
	return ids
}
