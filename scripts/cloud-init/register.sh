#!/usr/bin/env bash
# Register this instance in the asg-lifecycle table from cloud-init, merge-safe: its own
# registration item, keyed by the instance's ARN (the only item its instance profile may write).
#
#   register.sh new      [--table T] [--region R] [--attr NAME=VALUE]...   # first boot step
#   register.sh finished [--table T] [--region R] [--attr NAME=VALUE]...   # last cloud-init step
#
# `new` records the instance (ItemStatus `new` unless a state is already there, InstanceIp, extra
# attributes; an explicit `--attr InstanceIp=ADDRESS` replaces the address IMDS gives); `finished` sets the model's initial state (`finished_cloud_init`), which lets the
# handler start the lifecycle. Both use `aws dynamodb update-item` (a merge): never `put-item`,
# which would erase the lifecycle action and history the handler may already have stored.
#
# Environment: ASG_LIFECYCLE_TABLE (or --table), AWS_REGION (default: the instance's region),
# ASG_LIFECYCLE_PENDING_STATE (default `new`), ASG_LIFECYCLE_INITIAL_STATE (default
# `finished_cloud_init`), AWS_ENDPOINT_URL_DYNAMODB (local testing), IMDS_ENDPOINT (default
# http://169.254.169.254). Needs the template's InstanceRegistrationPolicy on the instance role:
# UpdateItem of the item keyed by this instance's ARN, with ItemStatus, InstanceIp and the
# attributes of the stack's RegistrationAttributes parameter only.
set -euo pipefail

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "register.sh: error: $*" >&2; exit 1; }

[ $# -ge 1 ] || usage
mode=$1; shift
case "$mode" in new|finished) ;; *) usage ;; esac

table=${ASG_LIFECYCLE_TABLE:-}
region=${AWS_REGION:-}
pending=${ASG_LIFECYCLE_PENDING_STATE:-new}
initial=${ASG_LIFECYCLE_INITIAL_STATE:-finished_cloud_init}
imds=${IMDS_ENDPOINT:-http://169.254.169.254}
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --table) table=${2:?--table needs a value}; shift 2 ;;
        --region) region=${2:?--region needs a value}; shift 2 ;;
        --attr) extra+=("${2:?--attr needs NAME=VALUE}"); shift 2 ;;
        *) usage ;;
    esac
done
[ -n "$table" ] || die "no table: set ASG_LIFECYCLE_TABLE or pass --table"

# IMDSv2: a session token first, then every read with it.
token=$(curl -sfS --retry 5 --retry-connrefused -X PUT "$imds/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || die "failed to get an IMDSv2 token from $imds"
meta() { curl -sfS --retry 5 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"; }
instance_id=$(meta instance-id) || die "failed to read the instance id from IMDS"
[ -n "$region" ] || region=$(meta placement/region) || die "failed to read the region from IMDS"
# The registration key: the instance's ARN, as IAM gives it in ${ec2:SourceInstanceARN} (its
# account and region from the identity document, the partition from the region).
document=$(curl -sfS --retry 5 -H "X-aws-ec2-metadata-token: $token" \
    "$imds/latest/dynamic/instance-identity/document") || die "failed to read the identity document from IMDS"
field() { printf '%s\n' "$document" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1; }
account=$(field accountId); home=$(field region)
[ -n "$account" ] && [ -n "$home" ] || die "the identity document names no accountId or region"
case "$home" in cn-*) partition=aws-cn ;; us-gov-*) partition=aws-us-gov ;; *) partition=aws ;; esac
key="arn:$partition:ec2:$home:$account:instance/$instance_id"

# A JSON string literal: `\` and `"` escaped, and every control character U+0001-U+001F (a NUL
# cannot reach a shell argument): \b \f \n \r \t by name, the others as \u00XX.
control_chars=()
for code in $(seq 1 31); do
    # `x` keeps a newline from being stripped by the command substitution.
    char=$(printf "\\$(printf '%03o' "$code")x"); control_chars[code]=${char%x}
done
json_string() {
    local s=$1 code
    s=${s//\\/\\\\}; s=${s//\"/\\\"}
    s=${s//$'\b'/\\b}; s=${s//$'\f'/\\f}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
    for code in "${!control_chars[@]}"; do
        case $code in 8|9|10|12|13) continue ;; esac
        s=${s//"${control_chars[code]}"/$(printf '\\u%04x' "$code")}
    done
    printf '"%s"' "$s"
}

names='"#st": "ItemStatus"'
values=""
add_value() { values+="${values:+, }$(json_string "$1"): {\"S\": $(json_string "$2")}"; }

# The extra attributes, checked: NAME=VALUE, not the handler's, each named once (an update that
# names one attribute twice is refused by DynamoDB).
handler_owned=" Ident ItemStatus Version LifecycleAction PendingCommand InFlight EnteredAt RecentEvents History LastError GroupName ActiveGroup ExpiresAt Gone "
seen=" "
explicit_ip=""
for pair in ${extra[@]+"${extra[@]}"}; do
    name=${pair%%=*}
    [ "$name" != "$pair" ] && [ -n "$name" ] || die "--attr wants NAME=VALUE, got '$pair'"
    case "$handler_owned" in *" $name "*) die "attribute $name belongs to the handler" ;; esac
    case "$seen" in *" $name "*) die "attribute $name is given twice with --attr" ;; esac
    seen+="$name "
    [ "$name" != InstanceIp ] || explicit_ip=yes
done

if [ "$mode" = new ]; then
    # Never moves a record back: a state already there (a re-run of cloud-init) is kept.
    update='SET #st = if_not_exists(#st, :pending)'
    condition=''
    add_value :pending "$pending"
    # An explicit --attr InstanceIp=ADDRESS replaces the address IMDS gives (set below with the
    # other attributes); otherwise IMDS's local-ipv4 is recorded.
    if [ -z "$explicit_ip" ]; then
        ip=$(meta local-ipv4) || die "failed to read local-ipv4 from IMDS"
        update+=', #ip = :ip'
        names+=', "#ip": "InstanceIp"'
        add_value :ip "$ip"
    fi
else
    update='SET #st = :initial'
    # Only from a pending state: a late re-run must not undo the handler's progress.
    condition='attribute_not_exists(#st) OR #st IN (:pending, :initial)'
    add_value :pending "$pending"
    add_value :initial "$initial"
fi

n=0
for pair in ${extra[@]+"${extra[@]}"}; do
    name=${pair%%=*}; value=${pair#*=}
    update+=", #x$n = :x$n"
    names+=", \"#x$n\": $(json_string "$name")"
    add_value ":x$n" "$value"
    n=$((n + 1))
done

args=(dynamodb update-item --region "$region" --table-name "$table"
      --key "{\"Ident\": {\"S\": $(json_string "$key")}}"
      --update-expression "$update"
      --expression-attribute-names "{$names}"
      --expression-attribute-values "{$values}")
[ -z "$condition" ] || args+=(--condition-expression "$condition")

if err=$(aws "${args[@]}" 2>&1 >/dev/null); then
    echo "register.sh: $instance_id: $mode recorded in $table (item $key)"
elif [[ "$err" == *ConditionalCheckFailedException* ]]; then
    echo "register.sh: $instance_id registered its initial state already; left as it is"
else
    die "update-item on $table failed: $err"
fi
