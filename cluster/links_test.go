package cluster

import "testing"

func TestObjectQueryOf(t *testing.T) {
	tests := []struct {
		key  map[string]string
		want ObjectQuery
		ok   bool
	}{
		{map[string]string{"resourceKey": "pods", "namespace": "demo", "name": "web"}, ObjectQuery{Resource: "pods", Namespace: "demo", Name: "web"}, true},
		{map[string]string{"resourceKey": "deployments.apps", "namespace": "demo", "name": "web"}, ObjectQuery{Group: "apps", Resource: "deployments", Namespace: "demo", Name: "web"}, true},
		{map[string]string{"resourceKey": "nodes/status", "name": "n1"}, ObjectQuery{Resource: "nodes", Name: "n1"}, true},
		{map[string]string{"resourceKey": "/healthz", "name": "x"}, ObjectQuery{}, false},
		{map[string]string{"resourceKey": "pods"}, ObjectQuery{}, false},
		{map[string]string{"name": "web"}, ObjectQuery{}, false},
	}
	for _, tt := range tests {
		got, ok := ObjectQueryOf(tt.key)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ObjectQueryOf(%v) = %+v, %v; want %+v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStringValues(t *testing.T) {
	tests := []struct {
		in   any
		want int
	}{
		{[]string{"a", "b"}, 2}, {[]any{"a", 1, "b"}, 2}, {"a", 1}, {"", 0}, {nil, 0}, {3, 0},
	}
	for _, tt := range tests {
		if got := StringValues(tt.in); len(got) != tt.want {
			t.Errorf("StringValues(%v) = %v, want %d values", tt.in, got, tt.want)
		}
	}
}
