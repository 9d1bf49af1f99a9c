package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"k8s.io/component-base/cli"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// controllers are the kube-controller-manager controllers tests rely on:
// ownerReference garbage collection, namespace deletion (without it a
// deleted namespace stays Terminating) and ClusterRole aggregation (the
// built-in view/edit/admin roles gain clientops' tenant roles by label).
const controllers = "garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller"

// controllerManagerMain is the `testenv controller-manager` subcommand: plain
// kube-controller-manager with the given flags. It runs as a separate process
// because kube-apiserver and kube-controller-manager each install
// process-wide signal handlers and global registries.
func controllerManagerMain(args []string) int {
	cmd := kcmapp.NewControllerManagerCommand()
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

type childProcess struct {
	cmd  *exec.Cmd
	done chan error // receives cmd.Wait()'s result, then is closed
}

// startControllerManager re-executes this binary as `testenv controller-manager`
// against kubeconfig. Its output goes to our stderr, each line prefixed with
// "kcm: ". It dies with us if we are killed (Pdeathsig).
func startControllerManager(kubeconfig string) (*childProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "controller-manager",
		"--kubeconfig="+kubeconfig,
		"--controllers="+controllers,
		"--leader-elect=false",
		"--secure-port=0",
	)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start controller manager: %w", err)
	}
	w.Close()

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			fmt.Fprintf(os.Stderr, "kcm: %s\n", sc.Bytes())
		}
		r.Close()
	}()

	c := &childProcess{cmd: cmd, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
		c.done <- err
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM and waits up to timeout, then SIGKILLs.
func (c *childProcess) stop(timeout time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(timeout):
		logf("controller manager did not exit after %s; killing it", timeout)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
