using System.Net;

namespace RelayAppliance.Server.Sink;

/// <summary>What `relayd sink` listens on and how it answers.</summary>
public sealed class SinkOptions
{
    public required IPEndPoint EndPoint { get; init; }
    public ReplyMix ReplyMix { get; init; } = ReplyMix.AcceptAll;
    /// <summary>Latency added before each final reply after DATA/BDAT LAST.</summary>
    public TimeSpan Delay { get; init; }
    /// <summary>When set, each message (un-stuffed) is written to a file in this folder.</summary>
    public string? DumpDirectory { get; init; }
    public string Hostname { get; init; } = "sink.invalid";
    /// <summary>Command line limit; generous (RFC 5321 §4.5.3.1.4 says 512) so odd clients are still measured.</summary>
    public int MaxCommandLine { get; init; } = 2048;
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
