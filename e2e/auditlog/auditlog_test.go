package auditlog

import (
	"strings"
	"testing"
)

func TestRequests(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want string // auditID:stage of each request, in first-seen order
	}{
		{"one complete request", `{"auditID":"a","stage":"ResponseComplete"}`, "a:ResponseComplete"},
		{"watch, started then completed",
			`{"auditID":"w","stage":"ResponseStarted"}` + "\n" + `{"auditID":"w","stage":"ResponseComplete"}`,
			"w:ResponseComplete"},
		{"watch still open", `{"auditID":"w","stage":"ResponseStarted"}`, "w:ResponseStarted"},
		{"401, only ResponseStarted", `{"auditID":"u","stage":"ResponseStarted","responseStatus":{"code":401}}`, "u:ResponseStarted"},
		{"panic loses to complete",
			`{"auditID":"p","stage":"Panic"}` + "\n" + `{"auditID":"p","stage":"ResponseComplete"}` + "\n" + `{"auditID":"q","stage":"Panic"}`,
			"p:ResponseComplete q:Panic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, err := Read(strings.NewReader(tc.log))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range Requests(events) {
				got = append(got, e.AuditID+":"+e.Stage)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("Requests = %v, want %s", got, tc.want)
			}
		})
	}
}
