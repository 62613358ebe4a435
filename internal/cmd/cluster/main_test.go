package main

import (
	"strings"
	"testing"
)

func TestCheckServerName(t *testing.T) {
	names := []string{"127.0.0.1", "kubernetes", "localhost"}
	for _, tc := range []struct {
		server, wantErr string
	}{
		{server: "https://kubernetes:16443"},
		{server: "https://127.0.0.1:16443"},
		{server: "https://10.87.0.1:16443", wantErr: "make cluster CLUSTER_FLAGS=-san=10.87.0.1"},
		{server: "kubernetes", wantErr: "is not a URL"},
	} {
		err := checkServerName(tc.server, names)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("checkServerName(%q) = %v, want %q", tc.server, err, tc.wantErr)
		}
	}
}

func TestParsePorts(t *testing.T) {
	p, err := parsePorts("1,2,3,4,5,6")
	if err != nil || p.APIServer != 1 || p.Kwok != 6 || p.EtcdPeer != 3 {
		t.Fatalf("parsePorts = %+v, %v", p, err)
	}
	for _, bad := range []string{"1,2,3", "1,2,3,4,5,x", "0,2,3,4,5,6"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) accepted", bad)
		}
	}
}
