using System.Globalization;
using System.Net;
using DnsClient;
using DnsClient.Protocol;

namespace RelayAppliance.Delivery.Dns;

// The RFC 5321 §5.1 decision, from DNS answers to an ordered host list; caching and sharing are in MxResolver.cs.
public sealed partial class MxResolver
{
    private async Task<(MxResult Result, TimeSpan Lifetime)> LookupAsync(string domain)
    {
        // RFC 1035 §2.3.4 / RFC 5890: empty labels, labels over 63 octets or names over 253 cannot be asked for;
        // IdnMapping checks that and turns U-labels (SMTPUTF8 domains) into the A-labels DNS holds.
        string ascii;
        try
        {
            ascii = new IdnMapping().GetAscii(domain);   // instances are not documented thread-safe
        }
        catch (ArgumentException)
        {
            return (new MxResult(MxOutcome.NoSuchDomain, [], $"{domain}: not a valid domain name"), _options.NegativeTtl);
        }
        var mx = await QueryAsync(ascii, QueryType.MX).ConfigureAwait(false);
        if (mx.Failure is not null)
        {
            return Temporary(mx.Failure);
        }
        if (mx.NoSuchName)
        {
            return (new MxResult(MxOutcome.NoSuchDomain, [], $"{domain}: NXDOMAIN"), _options.NegativeTtl);
        }

        var records = mx.Records.MxRecords().ToList();
        if (records.Count == 0)
        {
            return await ImplicitMxAsync(domain, ascii).ConfigureAwait(false);
        }

        // RFC 7505 §3: "0 ." says the domain takes no mail. It must stand alone; a stray "." beside real MX
        // records is ignored (it names no host) rather than bouncing mail the other records would accept.
        var exchangers = OrderByPreference(records.Where(r => !IsRoot(r.Exchange)));
        if (exchangers.Count == 0)
        {
            return (new MxResult(MxOutcome.NullMx, [], $"{domain}: null MX (RFC 7505)"), _options.NegativeTtl);
        }

        var resolved = await Task.WhenAll(exchangers.Select(e => ResolveAddressesAsync(e.Name))).ConfigureAwait(false);

        var hosts = new List<MxHost>(exchangers.Count);
        var ttl = records.Min(r => r.InitialTimeToLive);
        List<string>? failures = null;
        for (var i = 0; i < exchangers.Count; i++)
        {
            var addresses = resolved[i];
            if (addresses.Failure is not null)
            {
                (failures ??= []).Add(addresses.Failure);
            }
            // §5.1: a host that does not resolve is skipped, the rest are still tried.
            if (addresses.Addresses.Length > 0)
            {
                hosts.Add(new MxHost(exchangers[i].Name, exchangers[i].Preference, addresses.Addresses));
                ttl = Math.Min(ttl, addresses.Ttl);
            }
        }

        if (hosts.Count == 0)
        {
            // The domain wants mail (it has MX records) but none of its hosts has an address right now: that is
            // the domain's DNS being broken, which may be fixed; defer rather than bounce.
            var why = failures is null ? "no MX host has an A or AAAA record" : string.Join("; ", failures);
            return Temporary($"{domain}: {why}");
        }
        return Positive(hosts, ttl, failures);
    }

    // RFC 5321 §5.1: no MX records ⇒ the domain itself is the host, as an implicit MX of preference 0.
    private Task<(MxResult Result, TimeSpan Lifetime)> ImplicitMxAsync(string domain, string ascii) =>
        AddressesAsHostAsync(ascii, $"{domain}: no MX and no A/AAAA records");

    /// <summary>A configured next hop: its own addresses, no MX.</summary>
    private Task<(MxResult Result, TimeSpan Lifetime)> HostLookupAsync(string host)
    {
        string ascii;
        try
        {
            ascii = new IdnMapping().GetAscii(host);
        }
        catch (ArgumentException)
        {
            return Task.FromResult((new MxResult(MxOutcome.NoSuchDomain, [], $"{host}: not a valid host name"), _options.NegativeTtl));
        }
        return AddressesAsHostAsync(ascii, $"{host}: no A/AAAA records");
    }

    private async Task<(MxResult Result, TimeSpan Lifetime)> AddressesAsHostAsync(string ascii, string noAddress)
    {
        var addresses = await ResolveAddressesAsync(ascii).ConfigureAwait(false);
        if (addresses.Addresses.Length > 0)
        {
            return Positive([new MxHost(ascii, 0, addresses.Addresses)], addresses.Ttl, addresses.Failure is null ? null : [addresses.Failure]);
        }
        if (addresses.Failure is not null)
        {
            return Temporary(addresses.Failure);
        }
        return (new MxResult(MxOutcome.NoSuchDomain, [], noAddress), _options.NegativeTtl);
    }

    private (MxResult, TimeSpan) Positive(List<MxHost> hosts, int ttlSeconds, List<string>? failures)
    {
        var lifetime = TimeSpan.FromSeconds(ttlSeconds);
        lifetime = lifetime < _options.MinimumTtl ? _options.MinimumTtl : lifetime > _options.MaximumTtl ? _options.MaximumTtl : lifetime;
        if (failures is not null)
        {
            // Some host lookups failed temporarily: keep the partial list only briefly so they are asked again soon.
            lifetime = lifetime < _options.TemporaryFailureTtl ? lifetime : _options.TemporaryFailureTtl;
        }
        // Arrays: one result is shared by every caller until it expires, so nobody may change it through a cast.
        return (new MxResult(MxOutcome.Hosts, [.. hosts], failures is null ? null : string.Join("; ", failures)), lifetime);
    }

    private (MxResult, TimeSpan) Temporary(string detail) => (MxResult.Temporary(detail), _options.TemporaryFailureTtl);

    /// <summary>Preference ascending; equal preferences in random order (RFC 5321 §5.1, load spreading).</summary>
    internal List<(string Name, int Preference)> OrderByPreference(IEnumerable<MxRecord> records)
    {
        // A host listed twice keeps its best preference; it would only be tried again with the same addresses.
        var ordered = records
            .GroupBy(r => Normalize(r.Exchange.Value), StringComparer.Ordinal)
            .Select(g => (Name: g.Key, Preference: (int)g.Min(r => r.Preference)))
            .OrderBy(h => h.Preference)
            .ToList();

        lock (_random)
        {
            for (var start = 0; start < ordered.Count;)
            {
                var end = start + 1;
                while (end < ordered.Count && ordered[end].Preference == ordered[start].Preference)
                {
                    end++;
                }
                // Fisher–Yates over the run [start, end).
                for (var i = end - 1; i > start; i--)
                {
                    var j = _random.Next(start, i + 1);
                    (ordered[i], ordered[j]) = (ordered[j], ordered[i]);
                }
                start = end;
            }
        }
        return ordered;
    }

    /// <summary>A then AAAA (both asked at once); the addresses keep that order.</summary>
    private async Task<HostAddresses> ResolveAddressesAsync(string name)
    {
        var a = QueryAsync(name, QueryType.A);
        var aaaa = QueryAsync(name, QueryType.AAAA);
        var (v4, v6) = (await a.ConfigureAwait(false), await aaaa.ConfigureAwait(false));

        var addresses = new List<IPAddress>();
        var ttl = int.MaxValue;
        foreach (var record in v4.Records.ARecords())
        {
            addresses.Add(record.Address);
            ttl = Math.Min(ttl, record.InitialTimeToLive);
        }
        foreach (var record in v6.Records.AaaaRecords())
        {
            addresses.Add(record.Address);
            ttl = Math.Min(ttl, record.InitialTimeToLive);
        }
        var failure = (v4.Failure, v6.Failure) switch
        {
            (null, null) => null,
            (string f, null) => f,
            (null, string f) => f,
            var (f4, f6) => $"{f4}; {f6}",
        };
        return new HostAddresses([.. addresses], ttl, failure);
    }

    private async Task<Answer> QueryAsync(string name, QueryType type)
    {
        try
        {
            var response = await _dns.QueryAsync(name, type, QueryClass.IN, CancellationToken.None).ConfigureAwait(false);
            return response.Header.ResponseCode switch
            {
                DnsHeaderResponseCode.NoError => new Answer(response.Answers, false, null),
                DnsHeaderResponseCode.NotExistentDomain => new Answer([], true, null),
                var code => new Answer([], false, $"{type} {name}: {Describe(code)} from {response.NameServer}"),
            };
        }
        catch (DnsResponseException ex) when (ex.Code == DnsResponseCode.ConnectionTimeout)
        {
            return new Answer([], false, $"{type} {name}: timed out after {_options.Retries + 1} tries of {_options.Timeout.TotalSeconds:0.###} s");
        }
        catch (DnsResponseException ex)
        {
            return new Answer([], false, $"{type} {name}: {ex.Message}");
        }
        catch (ArgumentException)
        {
            // DnsClient refuses a name it cannot encode; only an MX exchange could still be one here: it has no address.
            return new Answer([], true, null);
        }
    }

    private static bool IsRoot(DnsString name) => name.Value is "." or "";

    private static string Describe(DnsHeaderResponseCode code) => code switch
    {
        DnsHeaderResponseCode.ServerFailure => "SERVFAIL",
        DnsHeaderResponseCode.Refused => "REFUSED",
        DnsHeaderResponseCode.FormatError => "FORMERR",
        DnsHeaderResponseCode.NotImplemented => "NOTIMP",
        _ => $"rcode {(int)code}",
    };

    private readonly record struct Answer(IReadOnlyList<DnsResourceRecord> Records, bool NoSuchName, string? Failure);

    private readonly record struct HostAddresses(IPAddress[] Addresses, int Ttl, string? Failure);
}
