// Command gitops-check runs clientops' GitOps integrations the way the GitOps
// tools do, for tests/gitops.rs:
//
//   - Argo CD health checks and resource actions: Lua scripts from deploy/argocd,
//     run with github.com/yuin/gopher-lua (the interpreter Argo CD embeds) in an
//     environment like Argo CD's for custom scripts: no standard libraries but
//     package, base and table, and an os module with only time and date;
//   - kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, which Flux
//     (kustomize-controller health checks) and kpt use.
//
// It reads a JSON request on stdin, {"cases": [{"id", "kind", "script", "object"}]}
// with kind one of health, action, discovery, kstatus, and writes one JSON result
// per case, in order, to stdout.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type testCase struct {
	ID     string         `json:"id"`
	Kind   string         `json:"kind"`
	Script string         `json:"script,omitempty"`
	Object map[string]any `json:"object"`
}

type result struct {
	ID      string `json:"id"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// action: the object the action returns; discovery: the actions it offers.
	Object  map[string]any `json:"object,omitempty"`
	Actions []string       `json:"actions,omitempty"`
	Error   string         `json:"error,omitempty"`
}

func main() {
	var req struct {
		Cases []testCase `json:"cases"`
	}
	// apimachinery's JSON decoding keeps integers as int64, as objects from the
	// apiserver have them (kstatus and Argo CD's Lua bridge rely on that).
	raw, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(raw, &req)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gitops-check: bad request:", err)
		os.Exit(2)
	}
	out := make([]result, 0, len(req.Cases))
	for _, c := range req.Cases {
		r := result{ID: c.ID}
		if err := run(c, &r); err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		os.Exit(2)
	}
}

func run(c testCase, r *result) error {
	switch c.Kind {
	case "kstatus":
		res, err := status.Compute(&unstructured.Unstructured{Object: c.Object})
		if err != nil {
			return err
		}
		r.Status, r.Message = string(res.Status), res.Message
		return nil
	case "health", "action", "discovery":
		src, err := os.ReadFile(c.Script)
		if err != nil {
			return err
		}
		ret, err := runLua(c.Object, string(src))
		if err != nil {
			return err
		}
		switch c.Kind {
		case "health":
			m, ok := ret.(map[string]any)
			if !ok {
				return fmt.Errorf("health.lua must return a table with status and message, got %T", ret)
			}
			r.Status, _ = m["status"].(string)
			r.Message, _ = m["message"].(string)
			switch r.Status {
			case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
			default:
				return fmt.Errorf("invalid health status %q", r.Status)
			}
		case "action":
			m, ok := ret.(map[string]any)
			if !ok {
				return fmt.Errorf("action.lua must return the object, got %T", ret)
			}
			// Lua cannot tell an empty object from an empty array; like Argo CD,
			// keep the original's empty objects.
			r.Object, _ = restoreEmptyObjects(m, c.Object).(map[string]any)
		case "discovery":
			m, ok := ret.(map[string]any)
			if !ok {
				if a, isArr := ret.([]any); isArr && len(a) == 0 {
					return nil // no actions
				}
				return fmt.Errorf("discovery.lua must return a table of actions, got %T", ret)
			}
			for name, v := range m {
				if def, ok := v.(map[string]any); ok && def["disabled"] == true {
					continue
				}
				r.Actions = append(r.Actions, name)
			}
			sort.Strings(r.Actions)
		}
		return nil
	default:
		return fmt.Errorf("unknown kind %q", c.Kind)
	}
}

// runLua runs script with the global obj set to object and returns its result
// converted to Go values.
func runLua(object map[string]any, script string) (any, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, lua.OpenOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	// Keep only os.time and os.date, as Argo CD does, also for require("os").
	full := l.GetGlobal(lua.OsLibName).(*lua.LTable)
	safe := l.NewTable()
	safe.RawSetString("time", full.RawGetString("time"))
	safe.RawSetString("date", full.RawGetString("date"))
	l.SetGlobal(lua.OsLibName, safe)
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int { l.Push(safe); return 1 })
	loaded := l.GetField(l.Get(lua.RegistryIndex), "_LOADED")
	if t, ok := loaded.(*lua.LTable); ok {
		t.RawSetString(lua.OsLibName, lua.LNil)
	}

	l.SetGlobal("obj", toLua(l, object))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	return fromLua(l.Get(-1)), nil
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(toLua(l, e))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	}
	return lua.LNil
}

// fromLua converts like Argo CD's JSON encoding of Lua values: a table whose
// keys are 1..n is an array (an empty table too), any other table an object.
func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x)
	case lua.LNumber:
		return float64(x)
	case lua.LString:
		return string(x)
	case *lua.LTable:
		if n := x.MaxN(); n > 0 || isEmpty(x) {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, fromLua(x.RawGetInt(i)))
			}
			return arr
		}
		m := map[string]any{}
		x.ForEach(func(k, e lua.LValue) { m[k.String()] = fromLua(e) })
		return m
	}
	return nil
}

func isEmpty(t *lua.LTable) bool {
	k, _ := t.Next(lua.LNil)
	return k == lua.LNil
}

func restoreEmptyObjects(v, orig any) any {
	switch x := v.(type) {
	case map[string]any:
		o, ok := orig.(map[string]any)
		if !ok {
			return x
		}
		for k, e := range x {
			if oe, ok := o[k]; ok {
				x[k] = restoreEmptyObjects(e, oe)
			}
		}
		return x
	case []any:
		switch o := orig.(type) {
		case map[string]any:
			if len(x) == 0 {
				return o
			}
		case []any:
			for i := range x {
				if i < len(o) {
					x[i] = restoreEmptyObjects(x[i], o[i])
				}
			}
		}
		return x
	}
	return v
}
