package cloudwatch

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// TestReadOn: a run that starts from the position an earlier one reached
// reads only the events logged since, including those with the very
// millisecond of the last one read.
func TestReadOn(t *testing.T) {
	addr := moto(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ev := func(i int, at time.Time) line {
		return line{id: fmt.Sprintf("id-%03d", i), at: at,
			text: fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"id-%03d","stage":"ResponseComplete","requestReceivedTimestamp":%q}`, i, at.Format(time.RFC3339Nano))}
	}
	var first []line
	for i := 0; i < 10; i++ {
		first = append(first, ev(i, base.Add(time.Duration(i)*time.Second)))
	}
	// Two events share the last millisecond of the first read.
	first = append(first, ev(10, base.Add(9*time.Second)))
	group := putGroup(t, addr, map[string][]line{"kube-apiserver-audit-1": first})
	u := "cloudwatch://" + group + "?endpoint=http://" + addr
	read := func(from *Position) ([]string, Position) {
		t.Helper()
		ctx := context.Background()
		s, err := Open(ctx, u, Options{PageSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		objs, err := s.Objects(ctx, time.Time{}, time.Time{})
		if err != nil || len(objs) != 1 {
			t.Fatalf("objects %v: %v", objs, err)
		}
		if from != nil {
			objs[0].From(*from)
		}
		rc, err := objs[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if i := strings.Index(l, `"auditID":"`); i >= 0 {
				ids = append(ids, l[i+11:i+17])
			}
		}
		pos, ok := objs[0].Position()
		if !ok {
			t.Fatal("no position after reading")
		}
		return ids, pos
	}
	ids, pos := read(nil)
	if len(ids) != 11 || pos.Millis != base.Add(9*time.Second).UnixMilli() || pos.AtLast != 2 {
		t.Fatalf("first read: %v, position %+v", ids, pos)
	}
	// One more event at that millisecond, and two later.
	c := client(t, addr)
	var more []types.InputLogEvent
	for _, l := range []line{ev(11, base.Add(9*time.Second)), ev(12, base.Add(10*time.Second)), ev(13, base.Add(11*time.Second))} {
		more = append(more, types.InputLogEvent{Message: aws.String(l.text), Timestamp: aws.Int64(l.at.UnixMilli())})
	}
	if _, err := c.PutLogEvents(context.Background(), &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group),
		LogStreamName: aws.String("kube-apiserver-audit-1"), LogEvents: more}); err != nil {
		t.Fatal(err)
	}
	ids, pos2 := read(&pos)
	if strings.Join(ids, ",") != "id-011,id-012,id-013" || pos2.Millis != base.Add(11*time.Second).UnixMilli() || pos2.AtLast != 1 {
		t.Fatalf("read on: %v, position %+v", ids, pos2)
	}
	if ids, pos3 := read(&pos2); len(ids) != 0 || pos3 != pos2 {
		t.Fatalf("nothing new: %v, position %+v", ids, pos3)
	}
}
