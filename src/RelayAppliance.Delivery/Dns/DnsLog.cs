using Microsoft.Extensions.Logging;

namespace RelayAppliance.Delivery.Dns;

// Event ids 3100–3199: DNS (Server uses 1000s, Spool and Admin 2000s).
internal static partial class DnsLog
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Debug, Message = "MX {Domain}: {Outcome}, {Hosts} hosts {Detail}")]
    public static partial void Resolved(ILogger logger, string domain, MxOutcome outcome, int hosts, string? detail);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "MX {Domain}: temporary failure: {Detail}")]
    public static partial void TemporaryFailure(ILogger logger, string domain, string? detail);
}
