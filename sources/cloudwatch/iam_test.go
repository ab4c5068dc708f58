package cloudwatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// iamUser creates an IAM user without any policy in moto, through the IAM
// query API signed as AWS does, and returns its access key.
func iamUser(t *testing.T, cfg aws.Config, addr string) (id, secret string) {
	call := func(form url.Values) string {
		form.Set("Version", "2010-05-08")
		body := form.Encode()
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		creds, err := cfg.Credentials.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("IAM %s: %s: %s", form.Get("Action"), resp.Status, b)
		}
		return string(b)
	}
	name := "audit-reader-" + time.Now().Format("150405000000")
	call(url.Values{"Action": {"CreateUser"}, "UserName": {name}})
	out := call(url.Values{"Action": {"CreateAccessKey"}, "UserName": {name}})
	m1 := regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`).FindStringSubmatch(out)
	m2 := regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`).FindStringSubmatch(out)
	if m1 == nil || m2 == nil {
		t.Fatalf("CreateAccessKey: %s", out)
	}
	return m1[1], m2[1]
}
