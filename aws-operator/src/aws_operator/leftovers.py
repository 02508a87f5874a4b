"""What a deleted stack can leave behind, found by list calls and removed — only when it is provably ours.

CloudFormation cannot delete a VPC that holds something it did not make (network interfaces left by the guest's
own load balancers, an instance's interface not released in time): the stack's deletion fails, or — on moto's
server, whose CloudFormation deletes neither NAT gateways (nor their addresses) nor route tables — ends with the
VPC still there. The original aws-operator swept such leftovers too. A VPC is swept only if it carries this
AWSConfig's claim (the stack's tags, which CloudFormation propagates); what is inside it is ours by containment.
Roles are found by the cluster's IAM path and swept only with the claim the template puts on them (another
installation's cluster of the same id could share the path); the zone is found by the id recorded from the stack's
outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aws_operator import key
from aws_operator.aws import AWSError, call

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef, HostedZoneTypeDef

    from aws_operator.aws import Account


def _tags(found: Mapping[str, object]) -> dict[str, str]:
    """Each service's stub types its tags apart (EC2's keys optional, IAM's required): all carry Key and Value."""
    listed = found.get("Tags") or found.get("TagSet") or []
    return {t["Key"]: t["Value"] for t in cast("list[Mapping[str, str]]", listed)}


def claimed(found: Mapping[str, object], claim: str) -> bool:
    """Whether a described VPC, instance, group or role's tags carry ``claim``."""
    return key.same_owner(_tags(found).get(key.OWNER_TAG), claim)


def claimed_vpcs(ec2: EC2Client, cluster_id: str, claim: str) -> list[str]:
    vpcs = call(
        "ec2:DescribeVpcs",
        ec2.describe_vpcs,
        Filters=[{"Name": f"tag:{key.CLUSTER_TAG}", "Values": [cluster_id]}],
    )["Vpcs"]
    return [v["VpcId"] for v in vpcs if claimed(v, claim)]


def claimed_roles(iam: IAMClient, cluster_id: str, claim: str) -> list[str]:
    """The names of the roles under the cluster's IAM path that carry ``claim``."""
    roles = call("iam:ListRoles", iam.list_roles, PathPrefix=key.iam_path(cluster_id))["Roles"]
    return [
        role["RoleName"]
        for role in roles
        if claimed(call("iam:ListRoleTags", iam.list_role_tags, RoleName=role["RoleName"]), claim)
    ]


def left_behind(account: Account, cluster_id: str, owner: str, zone_id: str | None) -> list[str]:
    """What the guest's stack made that is still in the account, found by list calls: VPCs, instances and groups by
    the cluster's tag and ``owner``'s claim, roles by IAM path and claim, the zone by its recorded id. Something of
    another installation's cluster of the same id is not waited for (it would hold the deletion forever)."""
    by_tag: list[FilterTypeDef] = [{"Name": f"tag:{key.CLUSTER_TAG}", "Values": [cluster_id]}]
    ec2, autoscaling = account.client("ec2"), account.client("autoscaling")
    found = claimed_vpcs(ec2, cluster_id, owner)
    instances = call(
        "ec2:DescribeInstances",
        ec2.describe_instances,
        Filters=[*by_tag, {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
    )
    found += [i["InstanceId"] for r in instances["Reservations"] for i in r["Instances"] if claimed(i, owner)]
    groups = call("autoscaling:DescribeAutoScalingGroups", autoscaling.describe_auto_scaling_groups, Filters=by_tag)[
        "AutoScalingGroups"
    ]
    found += [g["AutoScalingGroupName"] for g in groups if claimed(g, owner)]
    found += [f"role {name}" for name in claimed_roles(account.client("iam"), cluster_id, owner)]
    if zone_id is not None and hosted_zone(account.client("route53"), zone_id) is not None:
        found.append(f"hosted zone {zone_id}")  # the zone the stack made (one the spec names is the user's)
    return found


def sweep(account: Account, cluster_id: str, claim: str, zone_id: str | None) -> list[str]:
    """Remove what is left of the cluster's stack; returns what was removed (for an Event)."""
    removed: list[str] = []
    ec2 = account.client("ec2")
    for vpc in claimed_vpcs(ec2, cluster_id, claim):
        removed += _sweep_vpc(account, ec2, vpc)
    removed += _sweep_roles(account.client("iam"), cluster_id, claim)
    if zone_id is not None:
        removed += _sweep_zone(account.client("route53"), zone_id)
    return removed


def _sweep_vpc(account: Account, ec2: EC2Client, vpc: str) -> list[str]:
    removed: list[str] = []
    in_vpc: list[FilterTypeDef] = [{"Name": "vpc-id", "Values": [vpc]}]
    balancers = call("elb:DescribeLoadBalancers", account.client("elb").describe_load_balancers)
    for lb in balancers["LoadBalancerDescriptions"]:
        if lb.get("VPCId") == vpc:
            call(
                "elb:DeleteLoadBalancer",
                account.client("elb").delete_load_balancer,
                LoadBalancerName=lb["LoadBalancerName"],
            )
            removed.append(f"load balancer {lb['LoadBalancerName']}")
    allocations: list[str] = []
    for nat in call("ec2:DescribeNatGateways", ec2.describe_nat_gateways, Filters=in_vpc)["NatGateways"]:
        if nat["State"] not in {"deleted", "deleting"}:
            allocations += [a["AllocationId"] for a in nat.get("NatGatewayAddresses", []) if a.get("AllocationId")]
            call("ec2:DeleteNatGateway", ec2.delete_nat_gateway, NatGatewayId=nat["NatGatewayId"])
            removed.append(f"NAT gateway {nat['NatGatewayId']}")
    reservations = call("ec2:DescribeInstances", ec2.describe_instances, Filters=in_vpc)["Reservations"]
    running = [i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if running:
        call("ec2:TerminateInstances", ec2.terminate_instances, InstanceIds=running)
        removed += [f"instance {i}" for i in running]
    interfaces = call("ec2:DescribeNetworkInterfaces", ec2.describe_network_interfaces, Filters=in_vpc)
    for eni in interfaces["NetworkInterfaces"]:
        if eni.get("Status") != "available":
            continue  # an instance's own interface goes with the instance (terminated above)
        call("ec2:DeleteNetworkInterface", ec2.delete_network_interface, NetworkInterfaceId=eni["NetworkInterfaceId"])
        removed.append(f"network interface {eni['NetworkInterfaceId']}")
    for allocation in allocations:
        try:
            call("ec2:ReleaseAddress", ec2.release_address, AllocationId=allocation)
            removed.append(f"address {allocation}")
        except AWSError as exc:
            if exc.code != "InvalidAllocationID.NotFound":
                raise
    gateways = call(
        "ec2:DescribeInternetGateways",
        ec2.describe_internet_gateways,
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}],
    )["InternetGateways"]
    for gateway in gateways:
        call(
            "ec2:DetachInternetGateway",
            ec2.detach_internet_gateway,
            InternetGatewayId=gateway["InternetGatewayId"],
            VpcId=vpc,
        )
        call("ec2:DeleteInternetGateway", ec2.delete_internet_gateway, InternetGatewayId=gateway["InternetGatewayId"])
        removed.append(f"internet gateway {gateway['InternetGatewayId']}")
    for subnet in call("ec2:DescribeSubnets", ec2.describe_subnets, Filters=in_vpc)["Subnets"]:
        call("ec2:DeleteSubnet", ec2.delete_subnet, SubnetId=subnet["SubnetId"])
        removed.append(f"subnet {subnet['SubnetId']}")
    for table in call("ec2:DescribeRouteTables", ec2.describe_route_tables, Filters=in_vpc)["RouteTables"]:
        if any(a.get("Main") for a in table.get("Associations", [])):
            continue
        for association in table.get("Associations", []):
            call(
                "ec2:DisassociateRouteTable",
                ec2.disassociate_route_table,
                AssociationId=association["RouteTableAssociationId"],
            )
        call("ec2:DeleteRouteTable", ec2.delete_route_table, RouteTableId=table["RouteTableId"])
        removed.append(f"route table {table['RouteTableId']}")
    for group in call("ec2:DescribeSecurityGroups", ec2.describe_security_groups, Filters=in_vpc)["SecurityGroups"]:
        if group["GroupName"] != "default":
            call("ec2:DeleteSecurityGroup", ec2.delete_security_group, GroupId=group["GroupId"])
            removed.append(f"security group {group['GroupId']}")
    call("ec2:DeleteVpc", ec2.delete_vpc, VpcId=vpc)
    removed.append(f"VPC {vpc}")
    return removed


def _sweep_roles(iam: IAMClient, cluster_id: str, claim: str) -> list[str]:
    """Claimed roles, and the instance profiles holding only claimed roles (a profile carries no tags of its own)."""
    removed: list[str] = []
    path = key.iam_path(cluster_id)
    ours = set(claimed_roles(iam, cluster_id, claim))
    for profile in call("iam:ListInstanceProfiles", iam.list_instance_profiles, PathPrefix=path)["InstanceProfiles"]:
        held = {role["RoleName"] for role in profile.get("Roles", [])}
        if not held or not held <= ours:
            continue
        for role in profile.get("Roles", []):
            call(
                "iam:RemoveRoleFromInstanceProfile",
                iam.remove_role_from_instance_profile,
                InstanceProfileName=profile["InstanceProfileName"],
                RoleName=role["RoleName"],
            )
        call(
            "iam:DeleteInstanceProfile", iam.delete_instance_profile, InstanceProfileName=profile["InstanceProfileName"]
        )
        removed.append(f"instance profile {profile['InstanceProfileName']}")
    for name in sorted(ours):
        for policy in call("iam:ListRolePolicies", iam.list_role_policies, RoleName=name)["PolicyNames"]:
            call("iam:DeleteRolePolicy", iam.delete_role_policy, RoleName=name, PolicyName=policy)
        call("iam:DeleteRole", iam.delete_role, RoleName=name)
        removed.append(f"role {name}")
    return removed


def hosted_zone(route53: Route53Client, zone_id: str) -> HostedZoneTypeDef | None:
    try:
        return call("route53:GetHostedZone", route53.get_hosted_zone, Id=zone_id)["HostedZone"]
    except AWSError as exc:
        if exc.code == "NoSuchHostedZone":
            return None
        raise


def _sweep_zone(route53: Route53Client, zone_id: str) -> list[str]:
    """The zone the stack made: its id was recorded from the stack's outputs (the record is the claim — moto's
    CloudFormation gives its zones neither tags nor a comment)."""
    if hosted_zone(route53, zone_id) is None:
        return []
    records = call("route53:ListResourceRecordSets", route53.list_resource_record_sets, HostedZoneId=zone_id)
    changes: list[ChangeTypeDef] = [
        {"Action": "DELETE", "ResourceRecordSet": record}
        for record in records["ResourceRecordSets"]
        if record["Type"] not in {"SOA", "NS"}
    ]
    if changes:
        call(
            "route53:ChangeResourceRecordSets",
            route53.change_resource_record_sets,
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": changes},
        )
    call("route53:DeleteHostedZone", route53.delete_hosted_zone, Id=zone_id)
    return [f"hosted zone {zone_id}"]
