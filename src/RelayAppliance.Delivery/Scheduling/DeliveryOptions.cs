using System.Net;
using RelayAppliance.Delivery.Outbound;

namespace RelayAppliance.Delivery.Scheduling;

/// <summary>Where and how remote mail leaves; bound from the Delivery:* and Dns:* settings.</summary>
public sealed record DeliveryOptions
{
    /// <summary>Our name: EHLO, loop detection, DSN Reporting-MTA.</summary>
    public required string Hostname { get; init; }
    /// <summary>Delivery:Enabled: false keeps remote mail queued (local mailbox delivery still runs).</summary>
    public bool RemoteEnabled { get; init; } = true;
    /// <summary>Delivery:Transports: recipient domain (lower case) → next hops, tried in order instead of MX.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<NextHop>> Transports { get; init; } = new Dictionary<string, IReadOnlyList<NextHop>>();
    /// <summary>Delivery:Smarthost: when set, every remote domain without a transport goes there.</summary>
    public IReadOnlyList<NextHop> Smarthost { get; init; } = [];
    public SmtpCredentials? SmarthostCredentials { get; init; }
    public TlsPolicy Tls { get; init; } = TlsPolicy.Opportunistic;
    /// <summary>Delivery:MaxConnections: outbound connections in total (Postfix default_process_limit 100).</summary>
    public int MaxConnections { get; init; } = 100;
    public ConcurrencyOptions PerDestination { get; init; } = new();
    public RetryPolicy Retry { get; init; } = new();
    /// <summary>Addresses tried per attempt over all MX hosts (Postfix smtp_mx_address_limit: 5).</summary>
    public int MaxMxAddresses { get; init; } = 5;
    /// <summary>Relay:LocalDomains: a bounce to a sender in one of them is queued for the local mailbox.</summary>
    public IReadOnlyCollection<string> LocalDomains { get; init; } = [];
    /// <summary>The port MX hosts are contacted on: 25, except in a lab or test that runs its MTAs elsewhere.</summary>
    public int MxPort { get; init; } = 25;
    /// <summary>Our SMTP listeners: an MX that points back at one of them is a mail loop.</summary>
    public IReadOnlyList<IPEndPoint> OwnEndpoints { get; init; } = [];
    /// <summary>
    /// Delivery:DelayWarningTime: a message still undelivered this long after arrival gets one delay notification
    /// (a DSN with Action: delayed) to its sender. Zero turns it off, as Postfix's delay_warning_time does by default.
    /// </summary>
    public TimeSpan DelayWarningTime { get; init; } = TimeSpan.Zero;
    /// <summary>How long an idle outbound connection is kept for reuse (Postfix smtp_connection_cache_time_limit 2 s).</summary>
    public TimeSpan ConnectionIdleTime { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// A configured next hop (Delivery:Transports, Delivery:Smarthost): an IP address, or a host name whose A/AAAA records
/// are looked up at delivery time, never its MX (Postfix's <c>[host]</c>): the operator named the host itself.
/// </summary>
public sealed record NextHop(string Host, int Port)
{
    /// <summary>Set when <see cref="Host"/> is an IP address: nothing to look up.</summary>
    public IPAddress? Address { get; } = IPAddress.TryParse(Host, out var address) ? address : null;

    // An IP endpoint is a next hop that needs no lookup: IP-only routes are written as before.
    public static implicit operator NextHop(IPEndPoint endPoint) => new(endPoint.Address.ToString(), endPoint.Port);

    public override string ToString() =>
        Address is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
