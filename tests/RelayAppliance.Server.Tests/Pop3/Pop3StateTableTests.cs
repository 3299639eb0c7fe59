using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Server.Pop3;

namespace RelayAppliance.Server.Tests.Pop3;

public sealed class Pop3StateTableTests
{
    // Expected matrix (RFC 1939 §4–§7, RFC 2449, RFC 2595, RFC 5034): A = AUTHORIZATION, U = after USER, T = TRANSACTION.
    private static readonly Dictionary<Pop3Verb, string> Expected = new()
    {
        [Pop3Verb.User] = "AU",
        [Pop3Verb.Pass] = "U",
        [Pop3Verb.Auth] = "AU",
        [Pop3Verb.Stls] = "AU",
        [Pop3Verb.Capa] = "AUT",
        [Pop3Verb.Quit] = "AUT",
        [Pop3Verb.Stat] = "T",
        [Pop3Verb.List] = "T",
        [Pop3Verb.Retr] = "T",
        [Pop3Verb.Dele] = "T",
        [Pop3Verb.Noop] = "T",
        [Pop3Verb.Rset] = "T",
        [Pop3Verb.Top] = "T",
        [Pop3Verb.Uidl] = "T",
        [Pop3Verb.Unknown] = "",
    };

    [Fact]
    public void EveryStateAndVerbPairMatchesTheRfc()
    {
        foreach (var verb in Enum.GetValues<Pop3Verb>())
        {
            Assert.True(Expected.ContainsKey(verb), $"{verb} is missing from the expected matrix");
            foreach (var (state, letter) in new[] { (Pop3State.Authorization, 'A'), (Pop3State.UserGiven, 'U'), (Pop3State.Transaction, 'T') })
            {
                Assert.True(Expected[verb].Contains(letter) == Pop3StateTable.IsAllowed(state, verb), $"{verb} in {state}");
            }
        }
    }
}
