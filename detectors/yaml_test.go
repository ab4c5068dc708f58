package detectors_test

import yaml "go.yaml.in/yaml/v3"

func yamlUnmarshal(s string, v any) error { return yaml.Unmarshal([]byte(s), v) }
