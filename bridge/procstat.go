package bridge

import (
	"os"
	"strconv"
	"strings"
)

// procStat reads a process's state ('R', 'S', 'Z', ...), parent and process group from
// /proc/PID/stat (Linux), or reports ok false when it cannot. The command name in that
// line may hold spaces and parentheses, so the fields are read after its last ')'.
func procStat(pid int) (state byte, ppid, pgrp int, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	return f[0][0], ppid, pgrp, err1 == nil && err2 == nil
}
