package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// shell runs script with sh in dir ($0 is the binary), bounded like
// msgprobe().
func shell(t *testing.T, dir, script string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script, binary)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("sh -c %q did not end within 30s\nstderr: %s", script, r.stderr)
	}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode()
}

// A report or state replacing a file keeps that file's mode; a new one
// gets 0666 less the umask (bb3a3a4 made every one 0644).
func TestOutputFilesKeepTheirMode(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	writeFile(t, dir, "private.json", "old")
	if err := os.Chmod(filepath.Join(dir, "private.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "state.json", "")
	if err := os.Chmod(filepath.Join(dir, "state.json"), 0o640); err != nil {
		t.Fatal(err)
	}
	r := shell(t, dir, `umask 022 && exec "$0" check -c good.yaml -f json=private.json -f table=open.txt --state state.json --fail-on never`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for name, want := range map[string]os.FileMode{"private.json": 0o600, "state.json": 0o640, "open.txt": 0o644} {
		if got := fileMode(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	r = shell(t, dir, `umask 077 && exec "$0" check -c good.yaml -f json=new.json --state new-state.json --fail-on never`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, name := range []string{"new.json", "new-state.json"} {
		if got := fileMode(t, filepath.Join(dir, name)); got != 0o600 {
			t.Errorf("%s under umask 077: mode %v, want -rw-------", name, got)
		}
	}
}

// A symlink is followed: the file it points to gets the report, the link
// stays a link (bb3a3a4 replaced the link with a file and left the target
// stale). A link to nothing creates its target.
func TestOutputSymlinkIsFollowed(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "real/report.json", "stale")
	for link, target := range map[string]string{"report.json": "real/report.json", "fresh.json": "real/fresh.json"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-o", "report.json", "-f", "json", "-f", "csv=fresh.json", "--fail-on", "never")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, link := range []string{"report.json", "fresh.json"} {
		if fileMode(t, filepath.Join(dir, link))&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a symlink", link)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "real", "report.json"))
	if err != nil || !json.Valid(data) {
		t.Errorf("the link's target holds %q (%v), want the JSON report", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "real", "fresh.json")); err != nil || !strings.HasPrefix(string(data), "service,") {
		t.Errorf("the dangling link's target: %q %v", data, err)
	}
	assertNoTemp(t, dir)
	assertNoTemp(t, filepath.Join(dir, "real"))
}

// A FIFO is written, not replaced.
func TestOutputFIFOIsWrittenInPlace(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	fifo := filepath.Join(dir, "report.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Opened for reading without waiting for a writer; the report waits in
	// the pipe until it is read after the run.
	rd, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "json=report.fifo", "--fail-on", "never")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if fileMode(t, fifo)&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced by a %v", fileMode(t, fifo))
	}
	_ = rd.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	_, err = got.ReadFrom(rd)
	if err != nil || !json.Valid(got.Bytes()) {
		t.Errorf("read from the FIFO: %v, %q", err, got.String())
	}
}

// A standard stream named by its /proc path is written through the
// descriptor the process holds (bb3a3a4 tried to create a temporary file in
// /proc/self/fd and failed).
func TestOutputToOwnDescriptor(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "table", "-f", "json=/proc/self/fd/2", "--fail-on", "never")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `"services"`) || !strings.Contains(r.stdout, "Alpha") {
		t.Errorf("stdout %q\nstderr %q", r.stdout, r.stderr)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left in %s: %s", dir, e.Name())
		}
	}
}

// No temporary file sits beside the outputs while the endpoints are
// probed: a SIGHUP (or a SIGKILL) then leaves nothing behind (bb3a3a4 left
// .NAME.NNN.tmp files for the report and the state).
func TestSignalDuringProbingLeavesNoTemporaryFiles(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			arrived := make(chan struct{}, 16)
			stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-r.Context().Done()
			})
			writeFile(t, dir, "c.yaml", fmt.Sprintf("version: 1\ndefaults: {timeout: 60s, samples: 1}\nservices:\n  - name: Stuck\n    endpoints:\n      - target: %s/\n",
				fixture.HTTPServer(t, stuck, nil)))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "check", "-c", "c.yaml", "-o", "out.json", "-f", "json", "-f", "prometheus=m.prom", "--state", "state.json")
			cmd.Dir = dir
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-arrived:
			case <-ctx.Done():
				t.Fatal("the request never reached the stuck server")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if ctx.Err() != nil {
				t.Fatalf("msgprobe did not end after %v", sig)
			}
			assertNoTemp(t, dir)
		})
	}
}

// Runs sharing a state file take turns: none loses another's update
// (bb3a3a4 recorded 47 runs of 80).
func TestConcurrentRunsShareTheState(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	writeFile(t, dir, "c.yaml", fmt.Sprintf("version: 1\ndefaults: {timeout: 5s, samples: 1}\nservices:\n  - name: Alpha\n    endpoints:\n      - target: tcp://%s\n", up))
	const runs = 24
	var wg sync.WaitGroup
	errs := make(chan string, runs)
	for range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := msgprobe(t, dir, "", "check", "-c", "c.yaml", "--state", "state.json", "-q")
			if r.code != 0 {
				errs <- fmt.Sprintf("exit %d: %s", r.code, r.stderr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var st struct {
		Services map[string]struct {
			Runs int `json:"runs"`
		} `json:"services"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Services["Alpha"].Runs; got != runs {
		t.Errorf("the state counts %d runs of %d", got, runs)
	}
	assertNoTemp(t, dir)
}

// A run that cannot have the state's lock in time says so (exit 3), still
// writes its report, and leaves the state as it was.
func TestStateLockHeldPastTheDeadline(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	writeFile(t, dir, "state.json", "")
	lock, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "--state", "state.json", "--deadline", "1s", "-f", "json=out.json", "--fail-on", "never")
	if r.code != 3 || !strings.Contains(r.stderr, "cannot update the state in state.json: another msgprobe run holds the state's lock") ||
		!strings.Contains(r.stderr, "the reports were written, the state was not") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out.json")); err != nil || !json.Valid(data) {
		t.Errorf("report: %v %q", err, data)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "state.json")); len(data) != 0 {
		t.Errorf("the state was written without its lock: %q", data)
	}
}

// A state file far larger than any state is not decoded: a warning, and a
// fresh state (bb3a3a4 spent 13s and 1.2 GB on one).
func TestHugeStateFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	huge := bytes.Repeat([]byte(" "), 40<<20)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), huge, 0o644); err != nil {
		t.Fatal(err)
	}
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "--state", "state.json", "--fail-on", "never", "-q")
	if r.code != 0 || !strings.Contains(r.stderr, "msgprobe: warning: ignoring the state in state.json (40 MiB, more than the 32 MiB a state file may hold); it will be rewritten") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if info, err := os.Stat(filepath.Join(dir, "state.json")); err != nil || info.Size() > 10<<10 {
		t.Errorf("state not rewritten: %v %v", info.Size(), err)
	}
}

// --deadline counts loading: a config that cannot load in time is exit 3
// with a reason (bb3a3a4 loaded it whole, then probed for the deadline).
func TestDeadlineCountsLoading(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {samples: 1}\nservices:\n")
	addr := fixture.TCPListener(t)
	for i := range 6000 {
		fmt.Fprintf(&b, "  - name: s%d\n    endpoints:\n", i)
		for j := range 10 {
			fmt.Fprintf(&b, "      - name: e%d\n        target: tcp://%s\n", j, addr)
		}
	}
	writeFile(t, dir, "big.yaml", b.String())
	r := msgprobe(t, dir, "", "check", "-c", "big.yaml", "--deadline", "100ms", "-f", "json")
	if r.code != 3 || !strings.Contains(r.stderr, "msgprobe: the config did not load within --deadline 100ms, so nothing was probed") || r.stdout != "" {
		t.Errorf("exit %d (%v) stdout %d bytes stderr %q", r.code, r.elapsed, len(r.stdout), r.stderr)
	}
	t.Logf("60,000 endpoints with --deadline 100ms: %v", r.elapsed)
}

// devNodesScript runs in a private mount namespace with a private /dev
// (a tmpfs holding its own null and full), so that a msgprobe that
// replaced device nodes would damage nothing but that copy.
const devNodesScript = `set -e
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/full c 1 7
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/1 /dev/stdout
set +e
"$0" check -c good.yaml -f json -o /dev/null --fail-on never; echo "null $?" >>result
"$0" check -c good.yaml -f json -o /dev/full --fail-on never 2>full.err; echo "full $?" >>result
"$0" check -c good.yaml -f json -o /dev/stdout --fail-on never >stdout.json; echo "stdout $?" >>result
"$0" check -c good.yaml -f csv=/dev/null --state /dev/null --fail-on never -q; echo "state $?" >>result
stat -c '%n %F %a' /dev/null /dev/full >>result
ls -A /dev >dev.ls
`

// As root, -o /dev/null, -o /dev/full, -o /dev/stdout and --state
// /dev/null write the device or stream and never replace it (bb3a3a4
// renamed a 0644 file over /dev/null, and exited 0 on /dev/full). The
// test needs real root and unshare -m (mknod is refused in a user
// namespace); .ci/run runs it on its own as root, with
// MSGPROBE_REQUIRE_DEVNODES=1 so that it cannot skip there.
func TestDeviceNodesAreWrittenInPlace(t *testing.T) {
	skip := t.Skipf
	if os.Getenv("MSGPROBE_REQUIRE_DEVNODES") == "1" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("needs root for a private /dev (mount, mknod)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		skip("unshare is not available")
	}
	if out, err := exec.Command("unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt && mknod /mnt/null c 1 3").CombinedOutput(); err != nil {
		skip("no private /dev here (a user namespace refuses mknod): %v %s", err, out)
	}
	dir := t.TempDir()
	goodConfig(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c", devNodesScript, binary)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	result, err := os.ReadFile(filepath.Join(dir, "result"))
	if err != nil {
		t.Fatal(err)
	}
	want := "null 0\nfull 3\nstdout 0\nstate 0\n/dev/null character special file 666\n/dev/full character special file 666\n"
	if string(result) != want {
		t.Errorf("in the private /dev:\n%s\nwant:\n%s", result, want)
	}
	if errOut, _ := os.ReadFile(filepath.Join(dir, "full.err")); !strings.Contains(string(errOut), "msgprobe: cannot write report to /dev/full: no space left on device") {
		t.Errorf("-o /dev/full: %q", errOut)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "stdout.json")); !json.Valid(data) {
		t.Errorf("-o /dev/stdout wrote %q", data)
	}
	if ls, _ := os.ReadFile(filepath.Join(dir, "dev.ls")); strings.Contains(string(ls), ".tmp") {
		t.Errorf("temporary files left in /dev: %s", ls)
	}
}
