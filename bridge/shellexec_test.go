//go:build linux

package bridge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrappedStartsRefuseWhatExecRefuses: the options that start the child through
// /bin/sh (WithRlimits, WithListeners) fail the start as a direct exec does, instead of
// letting the shell run a file without "#!" as a shell script or turning a missing
// interpreter into exit status 127 (restarted for ever by a pool).
func TestWrappedStartsRefuseWhatExecRefuses(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran-as-shell-script")
	noShebang := filepath.Join(dir, "worker.py")
	require.NoError(t, os.WriteFile(noShebang, []byte("touch '"+marker+"'\nimport os\n"), 0o755))
	badInterp := filepath.Join(dir, "bad.py")
	require.NoError(t, os.WriteFile(badInterp, []byte("#!/nonexistent/python9\nprint(1)\n"), 0o755))
	// A missing file, a directory and a file without execute permission: the shell made
	// them exit statuses 127 and 126 before $ready.
	missing := filepath.Join(dir, "missing")
	aDir := filepath.Join(dir, "adir")
	require.NoError(t, os.Mkdir(aDir, 0o755))
	notExec := filepath.Join(dir, "notexec")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\ntouch '"+marker+"'\n"), 0o644))

	cases := []struct {
		name string
		opts []Option
		pool bool
	}{
		{"rlimits", []Option{WithStderr(nil), WithRlimits(Rlimits{OpenFiles: 64})}, false},
		{"listeners", []Option{WithStderr(nil), WithWorkers(1), WithChannel(ChannelNone), WithListeners("127.0.0.1:0")}, true},
	}
	for _, c := range cases {
		for _, f := range []struct {
			path string
			want error
		}{{noShebang, syscall.ENOEXEC}, {badInterp, syscall.ENOENT}, {missing, syscall.ENOENT}, {aDir, syscall.EACCES}, {notExec, syscall.EACCES}} {
			t.Run(c.name+"/"+filepath.Base(f.path), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				var err error
				if c.pool {
					var p *Pool
					p, err = NewPool(ctx, []string{f.path}, c.opts...)
					if err == nil {
						p.Kill()
					}
				} else {
					var p *Process
					p, err = Start(ctx, []string{f.path}, c.opts...)
					if err == nil {
						p.Kill()
					}
				}
				var se *StartError
				require.ErrorAs(t, err, &se)
				assert.ErrorIs(t, err, f.want)
				assert.NoFileExists(t, marker, "the shell ran the file as a script")
			})
		}
	}
}

func TestDirectExecError(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
		return p
	}
	sh, err := os.Executable()
	require.NoError(t, err)
	assert.NoError(t, directExecError(sh, ""), "an ELF binary")
	assert.NoError(t, directExecError(write("ok.sh", "#!/bin/sh\necho\n"), ""))
	assert.NoError(t, directExecError(write("args.sh", "#! /bin/sh -e\necho\n"), ""))
	assert.NoError(t, directExecError("ok.sh", dir), "relative to the child's directory")
	if !binfmtMiscInUse() {
		assert.ErrorIs(t, directExecError(write("plain.py", "print(1)\n"), ""), syscall.ENOEXEC)
		assert.ErrorIs(t, directExecError(write("empty", ""), ""), syscall.ENOEXEC)
	}
	assert.ErrorIs(t, directExecError(write("bang", "#!\n"), ""), syscall.ENOEXEC)
	assert.ErrorIs(t, directExecError(write("gone.py", "#!/nonexistent/python\n"), ""), syscall.ENOENT)
	assert.ErrorIs(t, directExecError(write("notexec.py", "#!"+dir+"\n"), ""), syscall.EACCES)
	assert.ErrorIs(t, directExecError(filepath.Join(dir, "missing"), ""), syscall.ENOENT)
	assert.ErrorIs(t, directExecError("missing", dir), syscall.ENOENT)
	assert.ErrorIs(t, directExecError(dir, ""), syscall.EACCES)
	require.NoError(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	assert.ErrorIs(t, directExecError(filepath.Join(dir, "loop"), ""), syscall.ELOOP)
	plain := write("plain", "#!/bin/sh\n")
	require.NoError(t, os.Chmod(plain, 0o644))
	assert.ErrorIs(t, directExecError(plain, ""), syscall.EACCES)
}

// A child that resolves its command in another view of the files (a chroot, a mount or
// user namespace) or runs as another user is left to its exec: the host's view said "no
// such file" for a /worker that exists only inside the chroot, and a child given
// WithRlimits or WithListeners in a chroot could not start at all.
func TestTheExecCheckLeavesChildrenThatSeeOtherFilesAlone(t *testing.T) {
	for name, attr := range map[string]*syscall.SysProcAttr{
		"chroot":          {Chroot: "/nonexistent-root"},
		"mount namespace": {Cloneflags: syscall.CLONE_NEWNS},
		"user namespace":  {Cloneflags: syscall.CLONE_NEWUSER},
		"another user":    {Credential: &syscall.Credential{Uid: 65534, Gid: 65534}},
	} {
		cmd := exec.Command("/worker-only-inside")
		cmd.Err = nil // exec.Command's own lookup of an absolute path sets none
		cmd.SysProcAttr = attr
		refuseWhatExecWouldRefuse(cmd)
		assert.NoError(t, cmd.Err, name)
	}
	cmd := exec.Command("/worker-only-inside")
	refuseWhatExecWouldRefuse(cmd)
	assert.Error(t, cmd.Err, "the host's own view still refuses a missing command")
}
