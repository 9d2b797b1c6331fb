// The protobuf schema of the built-in kinds podlb lists and watches, and of the envelope they
// travel in. Field numbers and names are copied from the upstream definitions of Kubernetes
// 1.32 (tags v0.32.13 of k8s.io/api and k8s.io/apimachinery):
//   k8s.io/api                 core/v1/generated.proto, discovery/v1/generated.proto
//   k8s.io/apimachinery        pkg/apis/meta/v1/generated.proto, pkg/runtime/generated.proto,
//                              pkg/util/intstr/generated.proto, pkg/api/resource/generated.proto
// Only the fields podlb reads are declared for the client: protobuf decoding skips a field its
// schema does not name, so everything else costs neither memory nor decoding time on the
// agents. Fields marked (server_only) are what the in-process API server stores and must hand
// back to clients that ask for protobuf; the client's schema drops them.
//
// The schema is proto text kept in a module, not a .proto file beside it: it reads line by line
// against the upstream files (the point of hand-checked field numbers), and it needs no asset
// copying at build time.
//
// (keep_zero) marks the fields whose zero value JSON shows: Go pointers (*bool, *int32, *string)
// and fields whose json tag has no omitempty. Every other scalar is a plain Go value that the
// real server writes even when empty (generateName "", hostNetwork false), and JSON omits; the
// decoder omits it too, so a protobuf object has the shape its JSON twin has.
export const PROTO_SOURCE = `
package k8s.io.apimachinery.pkg.runtime;

message TypeMeta {
  optional string apiVersion = 1;
  optional string kind = 2;
}

// The envelope of every protobuf body after the 4-byte magic "k8s\\0".
message Unknown {
  optional TypeMeta typeMeta = 1;
  optional bytes raw = 2;
  optional string contentEncoding = 3;
  optional string contentType = 4;
}

message RawExtension {
  optional bytes raw = 1;
}

package k8s.io.apimachinery.pkg.util.intstr;

message IntOrString {
  optional int64 type = 1;
  optional int32 intVal = 2;
  optional string strVal = 3;
}

package k8s.io.apimachinery.pkg.api.resource;

message Quantity {
  optional string string = 1;
}

package k8s.io.apimachinery.pkg.apis.meta.v1;

message Time {
  optional int64 seconds = 1;
  optional int32 nanos = 2;
}

message ObjectMeta {
  optional string name = 1;
  optional string generateName = 2 [(server_only) = true];
  optional string namespace = 3;
  optional string uid = 5;
  optional string resourceVersion = 6;
  optional int64 generation = 7;
  optional Time creationTimestamp = 8;
  optional Time deletionTimestamp = 9;
  optional int64 deletionGracePeriodSeconds = 10 [(keep_zero) = true];
  map<string, string> labels = 11;
  map<string, string> annotations = 12;
  repeated OwnerReference ownerReferences = 13;
  repeated string finalizers = 14;
}

message OwnerReference {
  optional string apiVersion = 5 [(keep_zero) = true];
  optional string kind = 1 [(keep_zero) = true];
  optional string name = 3 [(keep_zero) = true];
  optional string uid = 4 [(keep_zero) = true];
  optional bool controller = 6 [(keep_zero) = true];
  optional bool blockOwnerDeletion = 7 [(keep_zero) = true];
}

message ListMeta {
  optional string selfLink = 1;
  optional string resourceVersion = 2;
  optional string continue = 3;
  optional int64 remainingItemCount = 4 [(keep_zero) = true];
}

message Status {
  optional ListMeta metadata = 1;
  optional string status = 2;
  optional string message = 3;
  optional string reason = 4;
  optional StatusDetails details = 5;
  optional int32 code = 6;
}

message StatusDetails {
  optional string name = 1;
  optional string group = 2;
  optional string kind = 3;
  optional string uid = 6;
  repeated StatusCause causes = 4;
  optional int32 retryAfterSeconds = 5;
}

message StatusCause {
  optional string reason = 1;
  optional string message = 2;
  optional string field = 3;
}

message WatchEvent {
  optional string type = 1 [(keep_zero) = true];
  optional .k8s.io.apimachinery.pkg.runtime.RawExtension object = 2;
}

package k8s.io.api.core.v1;

message ObjectReference {
  optional string kind = 1;
  optional string namespace = 2;
  optional string name = 3;
  optional string uid = 4;
  optional string apiVersion = 5;
  optional string resourceVersion = 6;
  optional string fieldPath = 7;
}

message Pod {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;
  optional PodSpec spec = 2;
  optional PodStatus status = 3;
}

message PodList {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta metadata = 1;
  repeated Pod items = 2;
}

message PodSpec {
  repeated Container initContainers = 20 [(server_only) = true];
  repeated Container containers = 2;
  optional string restartPolicy = 3;
  optional int64 terminationGracePeriodSeconds = 4 [(keep_zero) = true];
  optional string dnsPolicy = 6 [(server_only) = true];
  map<string, string> nodeSelector = 7 [(server_only) = true];
  optional string serviceAccountName = 8 [(server_only) = true];
  optional string nodeName = 10;
  optional bool hostNetwork = 11;
  optional PodSecurityContext securityContext = 14 [(server_only) = true];
  optional string schedulerName = 19 [(server_only) = true];
  repeated Toleration tolerations = 22 [(server_only) = true];
  optional int32 priority = 25 [(server_only) = true, (keep_zero) = true];
  repeated PodReadinessGate readinessGates = 28;
  optional bool enableServiceLinks = 30 [(server_only) = true, (keep_zero) = true];
}

message PodSecurityContext {
  optional int64 runAsUser = 2 [(keep_zero) = true];
  optional bool runAsNonRoot = 3 [(keep_zero) = true];
  optional int64 fsGroup = 5 [(keep_zero) = true];
  optional int64 runAsGroup = 6 [(keep_zero) = true];
}

message Toleration {
  optional string key = 1;
  optional string operator = 2;
  optional string value = 3;
  optional string effect = 4;
  optional int64 tolerationSeconds = 5 [(keep_zero) = true];
}

message Container {
  optional string name = 1 [(keep_zero) = true];
  optional string image = 2;
  repeated string command = 3 [(server_only) = true];
  repeated string args = 4 [(server_only) = true];
  repeated ContainerPort ports = 6;
  repeated EnvVar env = 7 [(server_only) = true];
  optional ResourceRequirements resources = 8 [(server_only) = true];
  optional string terminationMessagePath = 13 [(server_only) = true];
  optional string imagePullPolicy = 14 [(server_only) = true];
  optional string terminationMessagePolicy = 20 [(server_only) = true];
}

message ContainerPort {
  optional string name = 1;
  optional int32 hostPort = 2 [(server_only) = true];
  optional int32 containerPort = 3 [(keep_zero) = true];
  optional string protocol = 4;
  optional string hostIP = 5 [(server_only) = true];
}

message EnvVar {
  optional string name = 1 [(keep_zero) = true];
  optional string value = 2;
}

message ResourceRequirements {
  map<string, .k8s.io.apimachinery.pkg.api.resource.Quantity> limits = 1;
  map<string, .k8s.io.apimachinery.pkg.api.resource.Quantity> requests = 2;
}

message PodReadinessGate {
  optional string conditionType = 1 [(keep_zero) = true];
}

message PodStatus {
  optional string phase = 1;
  repeated PodCondition conditions = 2;
  optional string message = 3 [(server_only) = true];
  optional string reason = 4 [(server_only) = true];
  optional string hostIP = 5;
  optional string podIP = 6;
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time startTime = 7 [(server_only) = true];
  optional string qosClass = 9 [(server_only) = true];
  repeated PodIP podIPs = 12;
  repeated HostIP hostIPs = 16;
}

message PodCondition {
  optional string type = 1 [(keep_zero) = true];
  optional string status = 2 [(keep_zero) = true];
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time lastProbeTime = 3 [(server_only) = true];
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time lastTransitionTime = 4;
  optional string reason = 5;
  optional string message = 6;
}

message PodIP {
  optional string ip = 1 [(keep_zero) = true];
}

message HostIP {
  optional string ip = 1 [(keep_zero) = true];
}

message Service {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;
  optional ServiceSpec spec = 2;
  optional ServiceStatus status = 3 [(server_only) = true];
}

message ServiceList {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta metadata = 1;
  repeated Service items = 2;
}

message ServiceSpec {
  repeated ServicePort ports = 1;
  map<string, string> selector = 2;
  optional string clusterIP = 3;
  optional string type = 4;
  repeated string externalIPs = 5 [(server_only) = true];
  optional string sessionAffinity = 7 [(server_only) = true];
  optional string externalTrafficPolicy = 11 [(server_only) = true];
  optional bool publishNotReadyAddresses = 13 [(server_only) = true];
  optional string ipFamilyPolicy = 17 [(server_only) = true, (keep_zero) = true];
  repeated string clusterIPs = 18;
  repeated string ipFamilies = 19;
  optional bool allocateLoadBalancerNodePorts = 20 [(server_only) = true, (keep_zero) = true];
  optional string loadBalancerClass = 21 [(server_only) = true, (keep_zero) = true];
  optional string internalTrafficPolicy = 22 [(server_only) = true, (keep_zero) = true];
}

message ServicePort {
  optional string name = 1;
  optional string protocol = 2;
  optional int32 port = 3 [(keep_zero) = true];
  optional .k8s.io.apimachinery.pkg.util.intstr.IntOrString targetPort = 4;
  optional int32 nodePort = 5 [(server_only) = true];
  optional string appProtocol = 6 [(keep_zero) = true];
}

message ServiceStatus {
  optional LoadBalancerStatus loadBalancer = 1;
}

message LoadBalancerStatus {
  repeated LoadBalancerIngress ingress = 1;
}

message LoadBalancerIngress {
  optional string ip = 1;
  optional string hostname = 2;
}

message Node {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;
  optional NodeSpec spec = 2;
  optional NodeStatus status = 3;
}

message NodeList {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta metadata = 1;
  repeated Node items = 2;
}

message NodeSpec {
  optional string podCIDR = 1;
  optional string providerID = 3 [(server_only) = true];
  optional bool unschedulable = 4;
  repeated Taint taints = 5 [(server_only) = true];
  repeated string podCIDRs = 7;
}

message Taint {
  optional string key = 1 [(keep_zero) = true];
  optional string value = 2;
  optional string effect = 3 [(keep_zero) = true];
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time timeAdded = 4;
}

message NodeStatus {
  map<string, .k8s.io.apimachinery.pkg.api.resource.Quantity> capacity = 1 [(server_only) = true];
  map<string, .k8s.io.apimachinery.pkg.api.resource.Quantity> allocatable = 2 [(server_only) = true];
  repeated NodeCondition conditions = 4;
  repeated NodeAddress addresses = 5;
}

message NodeCondition {
  optional string type = 1 [(keep_zero) = true];
  optional string status = 2 [(keep_zero) = true];
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time lastHeartbeatTime = 3 [(server_only) = true];
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time lastTransitionTime = 4;
  optional string reason = 5;
  optional string message = 6;
}

message NodeAddress {
  optional string type = 1 [(keep_zero) = true];
  optional string address = 2 [(keep_zero) = true];
}

package k8s.io.api.discovery.v1;

message EndpointSlice {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;
  repeated Endpoint endpoints = 2;
  repeated EndpointPort ports = 3;
  optional string addressType = 4 [(keep_zero) = true];
}

message EndpointSliceList {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta metadata = 1;
  repeated EndpointSlice items = 2;
}

message Endpoint {
  repeated string addresses = 1;
  optional EndpointConditions conditions = 2;
  optional string hostname = 3 [(server_only) = true, (keep_zero) = true];
  optional .k8s.io.api.core.v1.ObjectReference targetRef = 4;
  optional string nodeName = 6 [(keep_zero) = true];
  optional string zone = 7 [(server_only) = true, (keep_zero) = true];
}

message EndpointConditions {
  optional bool ready = 1 [(keep_zero) = true];
  optional bool serving = 2 [(keep_zero) = true];
  optional bool terminating = 3 [(keep_zero) = true];
}

message EndpointPort {
  optional string name = 1 [(keep_zero) = true];
  optional string protocol = 2 [(keep_zero) = true];
  optional int32 port = 3 [(keep_zero) = true];
  optional string appProtocol = 4 [(keep_zero) = true];
}
`;
