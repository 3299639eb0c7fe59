// API CONTRACT (issue 3): what the delivery scheduler codes against; MxResolver lives in MxResolver.cs.
// Keep these public signatures.
using System.Net;

namespace RelayAppliance.Delivery.Dns;

public sealed record DnsOptions
{
    /// <summary>DNS servers (Dns:Servers, host[:port]); empty means the system's /etc/resolv.conf.</summary>
    public IReadOnlyList<IPEndPoint> Servers { get; init; } = [];
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    public int Retries { get; init; } = 2;
    /// <summary>Cached answers live at least this long, whatever their TTL says.</summary>
    public TimeSpan MinimumTtl { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Cached answers live at most this long.</summary>
    public TimeSpan MaximumTtl { get; init; } = TimeSpan.FromHours(6);
    /// <summary>How long NXDOMAIN / no-data / temporary failures are cached (negative caching, RFC 2308).</summary>
    public TimeSpan NegativeTtl { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan TemporaryFailureTtl { get; init; } = TimeSpan.FromSeconds(30);
}

public enum MxOutcome : byte
{
    /// <summary>Hosts to try, best first.</summary>
    Hosts,
    /// <summary>RFC 7505 null MX ("0 ."): the domain accepts no mail; bounce 5.1.10.</summary>
    NullMx,
    /// <summary>NXDOMAIN, or no MX and no A/AAAA: bounce 5.1.2.</summary>
    NoSuchDomain,
    /// <summary>SERVFAIL, timeout, refused: try again later.</summary>
    TemporaryFailure,
}

/// <summary>One mail exchanger with its resolved addresses (A then AAAA).</summary>
public sealed record MxHost(string Name, int Preference, IReadOnlyList<IPAddress> Addresses);

public sealed record MxResult(MxOutcome Outcome, IReadOnlyList<MxHost> Hosts, string? Detail)
{
    public static MxResult Temporary(string detail) => new(MxOutcome.TemporaryFailure, [], detail);
}
