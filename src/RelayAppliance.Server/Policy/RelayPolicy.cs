using System.Net;
using System.Text;

namespace RelayAppliance.Server.Policy;

public enum RecipientDecision : byte { Local, Relay, Denied }

/// <summary>
/// Decides what happens to a recipient: local domains are accepted from anyone, relay domains are accepted from
/// anyone and relayed, every other domain only from trusted networks or authenticated clients. Routing looks at
/// the mailbox's domain only, never at %, ! or a quoted "@" in the local part, so those cannot open the relay;
/// such local parts are refused outright for clients that may not relay.
/// </summary>
public sealed class RelayPolicy
{
    private readonly byte[][] _localDomains;
    private readonly byte[][] _relayDomains;
    private readonly IPNetwork[] _trustedNetworks;

    public RelayPolicy(IEnumerable<string> localDomains, IEnumerable<string> relayDomains, IEnumerable<IPNetwork> trustedNetworks)
    {
        _localDomains = localDomains.Select(d => Encoding.ASCII.GetBytes(d.Trim().ToLowerInvariant())).ToArray();
        _relayDomains = relayDomains.Select(d => Encoding.ASCII.GetBytes(d.Trim().ToLowerInvariant())).ToArray();
        _trustedNetworks = trustedNetworks.ToArray();
    }

    public bool IsTrusted(IPAddress client)
    {
        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }
        foreach (var network in _trustedNetworks)
        {
            if (network.Contains(client))
            {
                return true;
            }
        }
        return false;
    }

    public RecipientDecision Decide(ReadOnlySpan<byte> localPart, ReadOnlySpan<byte> domain, bool mayRelay)
    {
        var isLocal = Matches(_localDomains, domain, allowSubdomains: false);
        if (!mayRelay && localPart.IndexOfAny("%!@"u8) >= 0)
        {
            // user%other@local, other!user@local and "a@b"@local are classic relay tricks: refuse, don't interpret.
            return RecipientDecision.Denied;
        }
        if (isLocal)
        {
            return RecipientDecision.Local;
        }
        if (Matches(_relayDomains, domain, allowSubdomains: true))
        {
            return RecipientDecision.Relay;
        }
        return mayRelay ? RecipientDecision.Relay : RecipientDecision.Denied;
    }

    /// <summary>Exact, case-insensitive match; a configured ".example.com" also matches its subdomains.</summary>
    private static bool Matches(byte[][] domains, ReadOnlySpan<byte> domain, bool allowSubdomains)
    {
        foreach (var candidate in domains)
        {
            if (candidate.Length > 0 && candidate[0] == (byte)'.')
            {
                if (allowSubdomains && domain.Length > candidate.Length && System.Text.Ascii.EqualsIgnoreCase(domain[^candidate.Length..], candidate))
                {
                    return true;
                }
            }
            else if (System.Text.Ascii.EqualsIgnoreCase(domain, candidate))
            {
                return true;
            }
        }
        return false;
    }
}
