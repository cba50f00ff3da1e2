package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/paysim"
)

// TestSecretsFromFilesNeverLogged: an origin takes its secrets from files
// (LUFFY_*_FILE), uses them (a callback signed with the file's gateway secret verifies,
// the MinIO secret key opens the object store, purges carry the purge secret), and none
// of them appears in its log, at debug level, through failed logins, forged callbacks and
// failed purges.
func TestSecretsFromFilesNeverLogged(t *testing.T) {
	db := seededDB(t, 3)
	dir := t.TempDir()
	secrets := map[string]string{
		"LUFFY_GATEWAY_SECRET": "gw-4e1f9c0d2b7a-never-logged",
		"LUFFY_PURGE_SECRET":   "purge-77a0c3e9d1-never-logged",
		"LUFFY_S3_SECRET_KEY":  "luffy-dev-secret", // the local MinIO's: a wrong one would fail the start
	}
	addr := freeAddr(t)
	cmd := exec.Command(luffyBin, "origin", "--pg-url", db.URL, "--listen", addr, "--log-level", "debug",
		"--edge-purge-url", "http://"+freeAddr(t)+"/edge/purge") // nobody there: purges fail and are logged
	cmd.Env = os.Environ()
	for env, v := range secrets {
		f := filepath.Join(dir, strings.ToLower(env))
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, env+"_FILE="+f)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	base := "http://" + addr
	waitReady(t, base)

	post := func(path, body string, headers ...string) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	ev := `{"event_id":"ev-1","order_number":"N-none","trade_no":"T1","amount_fen":100,"status":"paid"}`
	if st, body := post("/api/v1/payments/callback", ev, paysim.SignatureHeader, paysim.Sign(secrets["LUFFY_GATEWAY_SECRET"], []byte(ev))); st != 200 || !strings.Contains(body, "unknown_order") {
		t.Fatalf("a callback signed with the secret from the file: %d %s", st, body)
	}
	if st, _ := post("/api/v1/payments/callback", ev, paysim.SignatureHeader, paysim.Sign("guess", []byte(ev))); st != 401 {
		t.Errorf("a forged callback: %d", st)
	}
	if st, _ := post("/api/v1/auth/login", `{"username":"admin","password":"wrong"}`); st != 401 {
		t.Errorf("a wrong password: %d", st)
	}
	st, body := post("/api/v1/auth/login", `{"username":"admin","password":"luffy-demo"}`)
	var login struct{ Token string }
	json.Unmarshal([]byte(body), &login)
	if st != 200 || login.Token == "" {
		t.Fatalf("login: %d %s", st, body)
	}
	var course int64
	if err := db.Pool.QueryRow(t.Context(), `SELECT min(id) FROM courses`).Scan(&course); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/api/v1/admin/courses/%d", base, course), strings.NewReader(`{"title":"changed"}`))
	req.Header.Set("Authorization", "Bearer "+login.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin change (which purges the edges): %v %v", resp, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "edge purge failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	log := out.String()
	if !strings.Contains(log, "edge purge failed") {
		t.Errorf("no failed purge was logged; the check below saw less than it should:\n%s", log)
	}
	for env, v := range secrets {
		if strings.Contains(log, v) {
			t.Errorf("the secret of %s appears in the log", env)
		}
	}
	if strings.Contains(log, login.Token) {
		t.Error("a bearer token appears in the log")
	}
	t.Logf("%d log lines checked for %d secrets and a token", strings.Count(log, "\n"), len(secrets))

	// the variable and its _FILE twin together are refused
	both := exec.Command(luffyBin, "paysim", "--listen", "127.0.0.1:0")
	both.Env = append(os.Environ(), "LUFFY_GATEWAY_SECRET=x", "LUFFY_GATEWAY_SECRET_FILE="+filepath.Join(dir, "luffy_gateway_secret"))
	if out, err := both.CombinedOutput(); err == nil || !strings.Contains(string(out), "keep one") {
		t.Errorf("both LUFFY_GATEWAY_SECRET and its _FILE: %v\n%s", err, out)
	}
}
