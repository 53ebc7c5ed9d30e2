package main

// The deployment recipes in deploy/ are checked here, since no systemd or
// Kubernetes runs on the test machines: each is parsed, its required keys
// checked, and its agent command line parsed by the agent's own flags.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const deployDir = "../../deploy"

// agentFlagsAccept parses args (after "telepathine") with the agent's flag
// set: a trailing -h stops it after every flag was parsed, without starting
// anything; an unknown flag or a bad value makes run fail.
func agentFlagsAccept(t *testing.T, args []string) {
	t.Helper()
	require.Equal(t, "agent", args[0])
	stderr := &bytes.Buffer{}
	code := run(append(append([]string{}, args...), "-h"), io.Discard, stderr)
	require.Equal(t, 0, code, "agent flags %v: %s", args, stderr)
}

// flagValues maps --name=value and --name value pairs of args.
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok {
			out[k] = v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out[a] = args[i+1]
			i++
		} else {
			out[a] = "true"
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	f, err := os.Open(filepath.Join(deployDir, "telepathine.service"))
	require.NoError(t, err)
	defer f.Close()
	sections := map[string]map[string][]string{}
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = strings.Trim(line, "[]")
			sections[cur] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "not key=value: %q", line)
			require.NotEmpty(t, cur, "key outside a section: %q", line)
			sections[cur][k] = append(sections[cur][k], v)
		}
	}
	require.NoError(t, sc.Err())
	require.Contains(t, sections, "Unit")
	require.Contains(t, sections, "Install")
	svc := sections["Service"]
	require.NotNil(t, svc)
	one := func(k string) string {
		require.Len(t, svc[k], 1, k)
		return svc[k][0]
	}
	for k, v := range map[string]string{
		"Type": "simple", "KillSignal": "SIGTERM", "Restart": "on-failure",
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RuntimeDirectory": "telepathine",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "MemoryDenyWriteExecute": "yes",
	} {
		require.Equal(t, v, one(k), k)
	}
	require.Equal(t, []string{"multi-user.target"}, sections["Install"]["WantedBy"])

	// The keyring arrives as a credential, named by the agent's variable.
	require.Equal(t, "keyring:/etc/telepathine/keyring", one("LoadCredential"))
	require.Contains(t, svc["Environment"], "TELEPATHINE_KEYRING_FILE=%d/keyring")
	require.Contains(t, svc["Environment"], "TELEPATHINE_CONTROL=/run/telepathine/control.sock")

	// ExecStart, with systemd's substitutions made, is a valid agent command
	// whose control socket lies in the RuntimeDirectory and whose dashboard
	// stays on loopback.
	exec := strings.Fields(one("ExecStart"))
	require.Equal(t, "/usr/bin/telepathine", exec[0])
	env := map[string]string{
		"${TELEPATHINE_BIND}": "0.0.0.0:7946", "${TELEPATHINE_ADVERTISE}": "10.0.0.5:7946",
		"${TELEPATHINE_SEEDS}": "peers.example.internal:7946", "${TELEPATHINE_CLUSTER}": "prod",
	}
	args := exec[1:]
	for i, a := range args {
		if v, ok := env[a]; ok {
			args[i] = v
		}
		require.NotContains(t, args[i], "${", "every variable is documented in the unit")
	}
	agentFlagsAccept(t, args)
	fl := flagValues(args)
	require.Equal(t, "/run/telepathine/control.sock", fl["control"])
	require.Equal(t, "127.0.0.1:9090", fl["http"])
	require.NotContains(t, fl, "http-public")
}

// k8s is the subset of the manifests the test reads.
type k8s struct {
	Kind     string
	Metadata struct {
		Name   string
		Labels map[string]string
	}
	Spec struct {
		ClusterIP                string `yaml:"clusterIP"`
		PublishNotReadyAddresses bool   `yaml:"publishNotReadyAddresses"`
		Selector                 yaml.Node
		Ports                    []struct {
			Name       string
			Port       int
			Protocol   string
			TargetPort string `yaml:"targetPort"`
		}
		ServiceName         string `yaml:"serviceName"`
		Replicas            int
		PodManagementPolicy string `yaml:"podManagementPolicy"`
		Template            struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				Containers []struct {
					Name  string
					Image string
					Args  []string
					Env   []struct {
						Name      string
						Value     string
						ValueFrom *struct {
							FieldRef struct {
								FieldPath string `yaml:"fieldPath"`
							} `yaml:"fieldRef"`
						} `yaml:"valueFrom"`
					}
					Ports []struct {
						Name          string
						ContainerPort int `yaml:"containerPort"`
						Protocol      string
					}
					ReadinessProbe struct {
						HTTPGet struct {
							Path string
							Port string
						} `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
					VolumeMounts []struct {
						Name      string
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				}
				Volumes []struct {
					Name   string
					Secret *struct {
						SecretName string `yaml:"secretName"`
					}
				}
			}
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	f, err := os.Open(filepath.Join(deployDir, "kubernetes", "telepathine.yaml"))
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	byKind := map[string]k8s{}
	for {
		var doc k8s
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.NotContains(t, byKind, doc.Kind, "one of each kind")
		byKind[doc.Kind] = doc
	}
	require.Len(t, byKind, 2)
	svc, sts := byKind["Service"], byKind["StatefulSet"]

	// The headless Service names every pod, ready or not.
	require.Equal(t, "None", svc.Spec.ClusterIP)
	require.True(t, svc.Spec.PublishNotReadyAddresses)
	var svcSelector map[string]string
	require.NoError(t, svc.Spec.Selector.Decode(&svcSelector))
	var stsSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	require.NoError(t, sts.Spec.Selector.Decode(&stsSelector))
	podLabels := sts.Spec.Template.Metadata.Labels
	require.NotEmpty(t, svcSelector)
	require.NotEmpty(t, stsSelector.MatchLabels)
	for k, v := range svcSelector {
		require.Equal(t, v, podLabels[k], "Service selector matches the pods: %s", k)
	}
	for k, v := range stsSelector.MatchLabels {
		require.Equal(t, v, podLabels[k], "StatefulSet selector matches its pods: %s", k)
	}
	require.Equal(t, svc.Metadata.Name, sts.Spec.ServiceName, "the StatefulSet's governing Service")
	require.GreaterOrEqual(t, sts.Spec.Replicas, 3)

	require.Len(t, sts.Spec.Template.Spec.Containers, 1)
	c := sts.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = "from:" + e.ValueFrom.FieldRef.FieldPath
		} else {
			env[e.Name] = e.Value
		}
	}
	// $(VAR) references resolve to variables the pod defines; substitute
	// sample values and parse the command line with the agent's flags.
	sample := map[string]string{"POD_IP": "10.244.1.7", "POD_NAME": "telepathine-0", "POD_NAMESPACE": "default"}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		for name, v := range sample {
			if strings.Contains(a, "$("+name+")") {
				require.Contains(t, env, name, "$(%s) is defined", name)
				a = strings.ReplaceAll(a, "$("+name+")", v)
			}
		}
		require.NotContains(t, a, "$(", "unresolved reference in %q", c.Args[i])
		args[i] = a
	}
	agentFlagsAccept(t, args)
	fl := flagValues(args)

	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name+"/"+p.Protocol] = p.ContainerPort
	}
	portOf := func(addr string) int {
		_, p, err := net.SplitHostPort(addr)
		require.NoError(t, err, addr)
		n, err := strconv.Atoi(p)
		require.NoError(t, err)
		return n
	}
	gossip := portOf(fl["bind"])
	require.Equal(t, gossip, ports["gossip-udp/UDP"], "UDP container port = --bind port")
	require.Equal(t, gossip, ports["gossip-tcp/TCP"], "TCP container port = --bind port")
	require.Equal(t, gossip, portOf(fl["advertise"]))
	require.Equal(t, portOf(fl["http"]), ports["http/TCP"], "--http port = the http container port")
	require.Equal(t, "true", fl["http-public"], "--http on the pod address needs --http-public")
	require.Equal(t, "http", c.ReadinessProbe.HTTPGet.Port)
	require.Equal(t, "/healthz", c.ReadinessProbe.HTTPGet.Path)

	// Seeds: the headless Service's DNS name, on the gossip port.
	host, _, err := net.SplitHostPort(fl["seeds"])
	require.NoError(t, err)
	require.Equal(t, svc.Metadata.Name+".default.svc.cluster.local", host)
	require.Equal(t, gossip, portOf(fl["seeds"]))
	for _, p := range svc.Spec.Ports {
		require.Equal(t, ports[p.TargetPort+"/"+p.Protocol], p.Port, "Service port %s targets the same port", p.Name)
	}
	require.Len(t, svc.Spec.Ports, 3)

	// The keyring: a file of a Secret volume, named by the agent's variable.
	keyring := env["TELEPATHINE_KEYRING_FILE"]
	require.NotEmpty(t, keyring)
	mounted := false
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(keyring, m.MountPath+"/") {
			mounted = true
			require.True(t, m.ReadOnly)
			found := false
			for _, v := range sts.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					require.NotNil(t, v.Secret, "the keyring volume is a Secret")
					require.Equal(t, "telepathine-keyring", v.Secret.SecretName)
					found = true
				}
			}
			require.True(t, found, "volume %s", m.Name)
		}
	}
	require.True(t, mounted, "the keyring file lies in a mounted volume")
	require.Equal(t, env["TELEPATHINE_CONTROL"], fl["control"])
}
