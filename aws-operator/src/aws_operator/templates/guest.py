"""The guest's main stack: a VPC of its own, masters and worker pools, load balancers and DNS.

Per availability zone a public subnet (load balancers, a NAT gateway) and a private one (instances, routed out
through its zone's NAT gateway). Masters and each worker pool are an Auto Scaling group with a launch template and
a rolling update policy (one instance at a time). The API load balancer forwards TCP 443 to the masters' 6443;
the ingress one forwards 80 and 443 to the workers' node ports. ``api.<zone>`` and ``*.<zone>`` point at them.

Instances boot an Ignition pointer (user data) to ``boot/<role>.ign`` in the cluster's bucket; their roles may read
only their own role's objects there and decrypt with the cluster's key — a worker cannot read the masters' keys.

Load balancers are Classic Load Balancers with TCP listeners, as the original aws-operator's were: moto's
CloudFormation creates every ``ElasticLoadBalancingV2::LoadBalancer`` as an application load balancer, which refuses
a TCP listener (``Listener protocol 'TCP' must be one of 'HTTP, HTTPS'``), so a network load balancer could not be
tested here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from troposphere import (
    Base64,
    GetAtt,
    Output,
    Ref,
    Tags,
    Template,
    autoscaling,
    ec2,
    iam,
    policies,
    route53,
)
from troposphere import elasticloadbalancing as elb

from aws_operator import key

if TYPE_CHECKING:
    import ipaddress

API_PORT = 6443
INGRESS_PORTS = {80: 30080, 443: 30443}
ROOT_VOLUME_GIB = 50


@dataclass(frozen=True)
class Pool:
    name: str
    instance_type: str
    min_size: int
    max_size: int
    desired: int


@dataclass(frozen=True)
class GuestInputs:
    """Everything the template depends on (nothing else: the same inputs give the same template)."""

    cluster_id: str
    kubernetes_version: str
    vpc_cidr: ipaddress.IPv4Network
    zones: tuple[str, ...]
    ami: str
    master_type: str
    masters: int
    pools: tuple[Pool, ...]
    bucket: str
    key_arn: str
    zone: str
    hosted_zone_id: str | None
    claim: str
    """The owning AWSConfig's claim, on the IAM roles: CloudFormation's stack tags reach them on AWS but not on
    moto, and a role found under the cluster's path is swept only with it."""


def render(inputs: GuestInputs) -> str:
    """The template as CloudFormation gets it (compact, stable key order: its hash says whether it changed)."""
    return json.dumps(build(inputs).to_dict(), sort_keys=True, separators=(",", ":"))


def build(inputs: GuestInputs) -> Template:
    t = Template(Description=f"kubeception guest cluster {inputs.cluster_id}: network, masters, workers, DNS")
    t.set_version("2010-09-09")
    subnets = _network(t, inputs)
    groups = _security_groups(t, inputs)
    profiles = _roles(t, inputs)
    api_lb, ingress_lb = _load_balancers(t, subnets["public"], groups["lb"])
    _masters(t, inputs, subnets["private"], groups["master"], profiles["master"], api_lb)
    for pool in inputs.pools:
        _pool(t, inputs, pool, subnets["private"], groups["worker"], profiles["worker"], ingress_lb)
    _dns(t, inputs, api_lb, ingress_lb)
    return t


def _tags(inputs: GuestInputs, name: str, **more: str) -> Tags:
    return Tags({"Name": f"{inputs.cluster_id}-{name}", key.CLUSTER_TAG: inputs.cluster_id, **more})


def _network(t: Template, inputs: GuestInputs) -> dict[str, list[Ref]]:
    vpc = t.add_resource(
        ec2.VPC(
            key.VPC,
            CidrBlock=str(inputs.vpc_cidr),
            EnableDnsHostnames=True,
            EnableDnsSupport=True,
            Tags=_tags(inputs, "vpc"),
        )
    )
    gateway = t.add_resource(ec2.InternetGateway(key.INTERNET_GATEWAY, Tags=_tags(inputs, "igw")))
    t.add_resource(ec2.VPCGatewayAttachment(key.GATEWAY_ATTACHMENT, VpcId=Ref(vpc), InternetGatewayId=Ref(gateway)))
    public_table = t.add_resource(ec2.RouteTable(key.PUBLIC_ROUTE_TABLE, VpcId=Ref(vpc), Tags=_tags(inputs, "public")))
    t.add_resource(
        ec2.Route(
            key.PUBLIC_DEFAULT_ROUTE,
            DependsOn=key.GATEWAY_ATTACHMENT,
            RouteTableId=Ref(public_table),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref(gateway),
        )
    )
    # Eight equal parts: public subnets take the first three, private ones three of the upper half.
    parts = list(inputs.vpc_cidr.subnets(prefixlen_diff=3))
    public: list[Ref] = []
    private: list[Ref] = []
    for i, zone in enumerate(inputs.zones):
        pub = t.add_resource(
            ec2.Subnet(
                key.zonal(key.PUBLIC_SUBNET, i),
                VpcId=Ref(vpc),
                CidrBlock=str(parts[i]),
                AvailabilityZone=zone,
                Tags=_tags(inputs, f"public-{zone}", **{"kubernetes.io/role/elb": "1"}),
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                key.subnet_routes(pub.title), SubnetId=Ref(pub), RouteTableId=Ref(public_table)
            )
        )
        address = t.add_resource(ec2.EIP(key.zonal(key.NAT_ADDRESS, i), Domain="vpc", DependsOn=key.GATEWAY_ATTACHMENT))
        nat = t.add_resource(
            ec2.NatGateway(
                key.zonal(key.NAT_GATEWAY, i),
                AllocationId=GetAtt(address, "AllocationId"),
                SubnetId=Ref(pub),
                Tags=_tags(inputs, f"nat-{zone}"),
            )
        )
        priv = t.add_resource(
            ec2.Subnet(
                key.zonal(key.PRIVATE_SUBNET, i),
                VpcId=Ref(vpc),
                CidrBlock=str(parts[4 + i]),
                AvailabilityZone=zone,
                Tags=_tags(inputs, f"private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}),
            )
        )
        table = t.add_resource(
            ec2.RouteTable(key.zonal(key.PRIVATE_ROUTE_TABLE, i), VpcId=Ref(vpc), Tags=_tags(inputs, f"private-{zone}"))
        )
        t.add_resource(
            ec2.Route(
                key.zonal(key.PRIVATE_DEFAULT_ROUTE, i),
                RouteTableId=Ref(table),
                DestinationCidrBlock="0.0.0.0/0",
                NatGatewayId=Ref(nat),
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(key.subnet_routes(priv.title), SubnetId=Ref(priv), RouteTableId=Ref(table))
        )
        public.append(Ref(pub))
        private.append(Ref(priv))
    t.add_output(Output(key.VPC_ID_OUTPUT, Value=Ref(vpc)))
    return {"public": public, "private": private}


def _rule(port: int | None, **source: Any) -> ec2.SecurityGroupRule:
    """TCP to ``port``, or (None) every protocol and port. AWS ignores the ports of protocol -1 (cfn-lint's W3687
    says so); they are given because moto's CloudFormation fails without them (``KeyError: 'FromPort'``)."""
    if port is None:
        return ec2.SecurityGroupRule(IpProtocol="-1", FromPort=-1, ToPort=-1, **source)
    return ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=port, ToPort=port, **source)


def _security_groups(t: Template, inputs: GuestInputs) -> dict[str, Ref]:
    vpc, cidr = Ref(key.VPC), str(inputs.vpc_cidr)
    lb = t.add_resource(
        ec2.SecurityGroup(
            key.LOAD_BALANCER_SECURITY_GROUP,
            GroupDescription=f"{inputs.cluster_id}: load balancers, open to the world on 80 and 443",
            VpcId=vpc,
            SecurityGroupIngress=[_rule(443, CidrIp="0.0.0.0/0"), _rule(80, CidrIp="0.0.0.0/0")],
            Tags=_tags(inputs, "load-balancers"),
        )
    )
    master = t.add_resource(
        ec2.SecurityGroup(
            key.MASTER_SECURITY_GROUP,
            GroupDescription=f"{inputs.cluster_id}: masters, the API from the load balancer, all from the VPC",
            VpcId=vpc,
            SecurityGroupIngress=[
                _rule(API_PORT, SourceSecurityGroupId=Ref(lb)),
                _rule(None, CidrIp=cidr),
            ],
            Tags=_tags(inputs, "masters"),
        )
    )
    worker = t.add_resource(
        ec2.SecurityGroup(
            key.WORKER_SECURITY_GROUP,
            GroupDescription=f"{inputs.cluster_id}: workers, ingress node ports from the load balancer",
            VpcId=vpc,
            SecurityGroupIngress=[
                *(_rule(port, SourceSecurityGroupId=Ref(lb)) for port in INGRESS_PORTS.values()),
                _rule(None, CidrIp=cidr),
            ],
            Tags=_tags(inputs, "workers"),
        )
    )
    return {"lb": Ref(lb), "master": Ref(master), "worker": Ref(worker)}


def _roles(t: Template, inputs: GuestInputs) -> dict[str, iam.InstanceProfile]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    bucket_arn = f"arn:aws:s3:::{inputs.bucket}"
    readable = {
        "master": [key.boot_object("master"), *(key.certificate_object(c) for c in key.MASTER_CERTIFICATES)],
        "worker": [
            *(key.boot_object(f"worker-{pool.name}") for pool in inputs.pools),
            *(key.certificate_object(c) for c in key.WORKER_CERTIFICATES),
        ],
    }
    profiles: dict[str, iam.InstanceProfile] = {}
    for role, objects in readable.items():
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": inputs.key_arn},
            {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
        ]
        if objects:
            statements.append(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": [f"{bucket_arn}/{o}" for o in objects]}
            )
        iam_role = t.add_resource(
            iam.Role(
                key.instance_role(role),
                Path=key.iam_path(inputs.cluster_id),
                AssumeRolePolicyDocument=trust,
                Policies=[
                    iam.Policy(
                        PolicyName=f"{role}-boot",
                        PolicyDocument={"Version": "2012-10-17", "Statement": statements},
                    )
                ],
                Tags=_tags(inputs, f"{role}-role", **{key.OWNER_TAG: inputs.claim}),
            )
        )
        profile = t.add_resource(
            iam.InstanceProfile(key.instance_profile(role), Path=key.iam_path(inputs.cluster_id), Roles=[Ref(iam_role)])
        )
        t.add_output(Output(key.role_arn_output(role), Value=GetAtt(iam_role, "Arn")))
        profiles[role] = profile
    return profiles


def _load_balancers(t: Template, public: list[Ref], group: Ref) -> tuple[elb.LoadBalancer, elb.LoadBalancer]:
    api = t.add_resource(
        elb.LoadBalancer(
            key.API_LOAD_BALANCER,
            Scheme="internet-facing",
            Subnets=public,
            SecurityGroups=[group],
            CrossZone=True,
            Listeners=[elb.Listener(LoadBalancerPort="443", InstancePort=str(API_PORT), Protocol="TCP")],
            HealthCheck=elb.HealthCheck(
                Target=f"TCP:{API_PORT}", HealthyThreshold="2", UnhealthyThreshold="2", Interval="10", Timeout="5"
            ),
        )
    )
    ingress = t.add_resource(
        elb.LoadBalancer(
            key.INGRESS_LOAD_BALANCER,
            Scheme="internet-facing",
            Subnets=public,
            SecurityGroups=[group],
            CrossZone=True,
            Listeners=[
                elb.Listener(LoadBalancerPort=str(port), InstancePort=str(node_port), Protocol="TCP")
                for port, node_port in INGRESS_PORTS.items()
            ],
            HealthCheck=elb.HealthCheck(
                Target=f"TCP:{INGRESS_PORTS[443]}",
                HealthyThreshold="2",
                UnhealthyThreshold="2",
                Interval="10",
                Timeout="5",
            ),
        )
    )
    for balancer in (api, ingress):
        t.add_output(Output(key.dns_output(balancer.title), Value=GetAtt(balancer, "DNSName")))
    return api, ingress


def user_data(bucket: str, role: str) -> str:
    """An Ignition pointer: the instance fetches its real boot configuration from the bucket (so certificates and
    settings change without a new launch template, and user data stays far below its 16 KB limit)."""
    source = f"s3://{bucket}/{key.boot_object(role)}"
    return json.dumps({"ignition": {"version": "3.4.0", "config": {"replace": {"source": source}}}})


def _launch_template(
    t: Template,
    inputs: GuestInputs,
    name: str,
    role: str,
    instance_type: str,
    group: Ref,
    profile: iam.InstanceProfile,
) -> ec2.LaunchTemplate:
    return t.add_resource(
        ec2.LaunchTemplate(
            name,
            LaunchTemplateData=ec2.LaunchTemplateData(
                ImageId=inputs.ami,
                InstanceType=instance_type,
                IamInstanceProfile=ec2.IamInstanceProfile(Arn=GetAtt(profile, "Arn")),
                SecurityGroupIds=[group],
                UserData=Base64(user_data(inputs.bucket, role)),
                MetadataOptions=ec2.MetadataOptions(HttpTokens="required", HttpPutResponseHopLimit=1),
                BlockDeviceMappings=[
                    ec2.LaunchTemplateBlockDeviceMapping(
                        DeviceName="/dev/xvda",
                        Ebs=ec2.EBSBlockDevice(VolumeSize=ROOT_VOLUME_GIB, VolumeType="gp3", Encrypted=True),
                    )
                ],
                TagSpecifications=[
                    ec2.TagSpecifications(
                        ResourceType="instance",
                        Tags=_tags(inputs, role, **{key.ROLE_TAG: role}),
                    )
                ],
            ),
        )
    )


def _group(
    t: Template,
    inputs: GuestInputs,
    name: str,
    template: ec2.LaunchTemplate,
    sizes: tuple[int, int, int],
    private: list[Ref],
    balancer: elb.LoadBalancer,
    role: str,
) -> autoscaling.AutoScalingGroup:
    low, high, desired = sizes
    return t.add_resource(
        autoscaling.AutoScalingGroup(
            name,
            MinSize=str(low),
            MaxSize=str(high),
            DesiredCapacity=str(desired),
            VPCZoneIdentifier=private,
            LaunchTemplate=autoscaling.LaunchTemplateSpecification(
                LaunchTemplateId=Ref(template), Version=GetAtt(template, "LatestVersionNumber")
            ),
            LoadBalancerNames=[Ref(balancer)],
            HealthCheckType="EC2",
            Tags=[
                autoscaling.Tag(key.CLUSTER_TAG, inputs.cluster_id, True),
                autoscaling.Tag(key.ROLE_TAG, role, True),
                autoscaling.Tag(key.OWNER_TAG, inputs.claim, True),  # on the group and its instances
            ],
            UpdatePolicy=policies.UpdatePolicy(
                AutoScalingRollingUpdate=policies.AutoScalingRollingUpdate(
                    MaxBatchSize=1, MinInstancesInService=max(0, desired - 1), PauseTime="PT5M"
                )
            ),
        )
    )


def _masters(
    t: Template,
    inputs: GuestInputs,
    private: list[Ref],
    group: Ref,
    profile: iam.InstanceProfile,
    api: elb.LoadBalancer,
) -> None:
    template = _launch_template(
        t, inputs, key.launch_template(key.MASTERS), "master", inputs.master_type, group, profile
    )
    n = inputs.masters
    asg = _group(t, inputs, key.group(key.MASTERS), template, (n, n, n), private, api, "master")
    t.add_output(Output(key.group(key.MASTERS), Value=Ref(asg)))


def _pool(
    t: Template,
    inputs: GuestInputs,
    pool: Pool,
    private: list[Ref],
    group: Ref,
    profile: iam.InstanceProfile,
    ingress: elb.LoadBalancer,
) -> None:
    prefix = key.pool_resources(pool.name)
    role = f"worker-{pool.name}"
    template = _launch_template(t, inputs, key.launch_template(prefix), role, pool.instance_type, group, profile)
    sizes = (pool.min_size, pool.max_size, pool.desired)
    asg = _group(t, inputs, key.group(prefix), template, sizes, private, ingress, role)
    t.add_output(Output(key.group(prefix), Value=Ref(asg)))


def _dns(t: Template, inputs: GuestInputs, api: elb.LoadBalancer, ingress: elb.LoadBalancer) -> None:
    zone_id: Any
    if inputs.hosted_zone_id is None:
        zone = t.add_resource(
            route53.HostedZone(
                key.HOSTED_ZONE,
                Name=inputs.zone,
                HostedZoneConfig=route53.HostedZoneConfiguration(Comment=f"kubeception cluster {inputs.cluster_id}"),
                HostedZoneTags=Tags({key.CLUSTER_TAG: inputs.cluster_id}),
            )
        )
        zone_id = Ref(zone)
    else:
        zone_id = inputs.hosted_zone_id
    records = ((key.API_RECORD, f"api.{inputs.zone}", api), (key.INGRESS_RECORD, f"*.{inputs.zone}", ingress))
    for name, record, balancer in records:
        t.add_resource(
            route53.RecordSetType(
                name,
                HostedZoneId=zone_id,
                Name=record,
                Type="CNAME",
                TTL="60",
                ResourceRecords=[GetAtt(balancer, "DNSName")],
            )
        )
    t.add_output(Output(key.HOSTED_ZONE_ID_OUTPUT, Value=zone_id))
    t.add_output(Output(key.API_ENDPOINT_OUTPUT, Value=f"https://api.{inputs.zone}"))
