// Command testenv runs a real, throw-away Kubernetes control plane for the
// clientops tests: embedded etcd, kube-apiserver in-process, and
// kube-controller-manager (garbage collector + namespace controllers) as a
// child process of the same binary. See /work/shared/testenv-recipe.md and the
// `up` / `down` scripts next to this file.
//
// Usage:
//
//	testenv run --dir DIR [--controller-manager=false] [--owner-pid PID]
//	testenv controller-manager [kube-controller-manager flags...]
//
// `run` writes into DIR:
//
//	kubeconfig   self-contained admin kubeconfig (CN=admin, O=system:masters)
//	ready        created once the apiserver passes /readyz and the controller
//	             manager has been started
//	pki/, etcd/, apiserver/   working files, removed on exit
//
// SIGTERM or SIGINT stops the controller manager, kube-apiserver and etcd and
// removes everything `run` created in DIR (DIR itself and files it did not
// create, such as the log written by `up`, are left alone).
//
// With --owner-pid PID (set by `up` from $TESTENV_OWNER_PID), the control
// plane also shuts down when process PID exits, and then removes DIR entirely,
// since nobody is left to run `down`.
//
// go.mod's replace block is generated from k8s.io/kubernetes' own .mod file:
// every `k8s.io/X => ./staging/src/k8s.io/X` line there becomes
// `k8s.io/X => k8s.io/X v0.<minor>.<patch>` here. To move to another
// Kubernetes version, regenerate it that way and run `go mod tidy`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "run":
		os.Exit(runMain(os.Args[2:]))
	case "controller-manager":
		os.Exit(controllerManagerMain(os.Args[2:]))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testenv run --dir DIR [--controller-manager=false]")
	fmt.Fprintln(os.Stderr, "       testenv controller-manager [kube-controller-manager flags]")
	os.Exit(2)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s testenv: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func runMain(args []string) int {
	fs := flag.NewFlagSet("testenv run", flag.ExitOnError)
	dir := fs.String("dir", "", "run directory (kubeconfig, ready marker, data)")
	withKCM := fs.Bool("controller-manager", true, "also run kube-controller-manager (garbage collector, namespace controller)")
	ownerPID := fs.Int("owner-pid", 0, "shut down and remove DIR when this process exits")
	keep := fs.Bool("keep", false, "keep the cluster's data (etcd, certificates, port, kubeconfig) when stopped by a signal, and start from what an earlier --keep run left in DIR: a restart of the same cluster")
	_ = fs.Parse(args)
	if *dir == "" || fs.NArg() != 0 {
		usage()
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if err := run(abs, *withKCM, *ownerPID, *keep); err != nil {
		logf("error: %v", err)
		return 1
	}
	return 0
}

// run starts the control plane in dir and blocks until a signal (clean exit,
// nil) or until a component dies (error). It always tears everything down.
func run(dir string, withKCM bool, ownerPID int, keep bool) (err error) {
	start := time.Now()

	// Catch signals from the start, so a SIGTERM during start-up still cleans
	// up. kube-apiserver registers its own handler later; both get signals.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var signalled, ownerGone atomic.Bool
	go func() {
		<-sigs
		signalled.Store(true)
		cancel()
	}()
	if ownerPID > 0 {
		if err := watchOwner(ctx, ownerPID, func() { ownerGone.Store(true); cancel() }); err != nil {
			return err
		}
	}

	var (
		readyFile  = filepath.Join(dir, "ready")
		kubeconfig = filepath.Join(dir, "kubeconfig")
		pkiDir     = filepath.Join(dir, "pki")
		etcdDir    = filepath.Join(dir, "etcd")
		certDir    = filepath.Join(dir, "apiserver")
		portFile   = filepath.Join(dir, "port")
	)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	owned := []string{readyFile, kubeconfig, pkiDir, etcdDir, certDir, portFile}
	for _, p := range owned {
		if keep && p != readyFile {
			continue // a restart reuses them
		}
		if _, statErr := os.Stat(p); statErr == nil {
			return fmt.Errorf("%s already exists: is another testenv using %s?", p, dir)
		}
	}
	// Whatever happens, remove what we created.
	defer func() {
		if ownerGone.Load() {
			if rmErr := os.RemoveAll(dir); rmErr != nil {
				logf("cleanup: %v", rmErr)
			}
			return
		}
		if keep && !ownerGone.Load() {
			_ = os.Remove(readyFile)
			logf("stopped; kept the cluster's data in %s for a restart", dir)
			return
		}
		for _, p := range owned {
			if rmErr := os.RemoveAll(p); rmErr != nil {
				logf("cleanup: %v", rmErr)
			}
		}
		logf("stopped; removed working files in %s", dir)
	}()

	var p *pki
	if _, statErr := os.Stat(filepath.Join(pkiDir, "ca.crt")); keep && statErr == nil {
		p, err = loadPKI(pkiDir)
	} else {
		p, err = generatePKI(pkiDir)
	}
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}

	etcd, etcdURL, err := startEtcd(ctx, etcdDir)
	if err != nil {
		return err
	}
	defer func() {
		etcd.Close()
		logf("etcd stopped")
	}()
	logf("etcd ready at %s (%s)", etcdURL, time.Since(start).Round(time.Millisecond))

	port, err := apiPort(portFile, keep)
	if err != nil {
		return err
	}
	serverURL := fmt.Sprintf("https://127.0.0.1:%d", port)
	apiDone := startAPIServer(apiserverFlags(etcdURL, port, certDir, p))
	apiRunning := true
	defer func() {
		if !apiRunning {
			return
		}
		// On a signal the apiserver's own handler has already started its
		// shutdown; requesting it again would count as a second signal and
		// exit the process at once. Otherwise (owner gone, a component
		// failed) ask for the shutdown a signal would have started.
		if !signalled.Load() {
			genericapiserver.RequestShutdown()
		}
		select {
		case code := <-apiDone:
			logf("kube-apiserver stopped (code %d)", code)
		case <-time.After(30 * time.Second):
			logf("kube-apiserver did not stop within 30s; continuing")
		}
	}()

	readyCtx, readyCancel := context.WithTimeout(ctx, 90*time.Second)
	err = waitReady(readyCtx, serverURL, p, apiDone)
	readyCancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // signalled (or owner gone) during start-up
		}
		if errors.Is(err, errAPIExited) {
			apiRunning = false
		}
		return err
	}
	logf("kube-apiserver ready at %s (%s)", serverURL, time.Since(start).Round(time.Millisecond))

	if err := writeKubeconfig(kubeconfig, serverURL, p); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	var kcmDone <-chan error
	if withKCM {
		kcm, err := startControllerManager(kubeconfig)
		if err != nil {
			return err
		}
		defer func() {
			kcm.stop(10 * time.Second)
			logf("controller manager stopped")
		}()
		kcmDone = kcm.done
		logf("controller manager started (pid %d, controllers %s)", kcm.cmd.Process.Pid, controllers)
	}

	if err := os.WriteFile(readyFile, []byte(kubeconfig+"\n"), 0o644); err != nil {
		return err
	}
	logf("ready: %s (%s)", kubeconfig, time.Since(start).Round(time.Millisecond))

	select {
	case <-ctx.Done():
		if ownerGone.Load() {
			logf("owner process %d exited; shutting down", ownerPID)
		} else {
			logf("signal received; shutting down")
		}
		_ = os.Remove(readyFile)
		return nil
	case code := <-apiDone:
		apiRunning = false
		return fmt.Errorf("kube-apiserver exited unexpectedly (code %d)", code)
	case err := <-kcmDone:
		return fmt.Errorf("controller manager exited unexpectedly: %v", err)
	case err := <-etcd.Err():
		return fmt.Errorf("etcd failed: %w", err)
	}
}

var errAPIExited = errors.New("kube-apiserver exited")

// apiPort picks the apiserver's port: with keep, the one an earlier run recorded
// in portFile (the kept kubeconfig points at it), else a free one.
func apiPort(portFile string, keep bool) (int, error) {
	if !keep {
		return freePort()
	}
	if b, err := os.ReadFile(portFile); err == nil {
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	return port, os.WriteFile(portFile, []byte(strconv.Itoa(port)+"\n"), 0o600)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before use, so another process could take it in between; that
// is unlikely enough for tests.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// watchOwner calls gone once process pid has exited (or is a zombie, or its
// pid was reused by another process). It polls /proc once a second.
func watchOwner(ctx context.Context, pid int, gone func()) error {
	start, ok := procStartTime(pid)
	if !ok {
		return fmt.Errorf("owner process %d is not running", pid)
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now, ok := procStartTime(pid); !ok || now != start {
					gone()
					return
				}
			}
		}
	}()
	return nil
}

// procStartTime returns the start time field of /proc/PID/stat, and false if
// the process does not exist or is a zombie.
func procStartTime(pid int) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// Fields after "comm" (which may contain spaces) start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return "", false
	}
	return f[19], true
}
