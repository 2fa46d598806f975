#!/usr/bin/perl
# An independent DKIM verifier for the tests: Perl's Mail::DKIM (what SpamAssassin uses).
# The message comes on stdin; DKIM key records come from the environment as
# DKIM_RECORDS="name=value|name=value" because the test machine has no DNS. Prints one
# line per signature: "<result> <algorithm> <domain>".
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my %records = map { split /=/, $_, 2 } split /\|/, ($ENV{DKIM_RECORDS} // "");
{
    no warnings 'redefine';
    *Mail::DKIM::DNS::query = sub {
        my ($domain, $type) = @_;
        my $value = $records{lc $domain};
        return () unless defined $value;
        return (Net::DNS::RR->new(name => $domain, type => 'TXT', txtdata => $value));
    };
}
my $verifier = Mail::DKIM::Verifier->new();
binmode STDIN;
while (my $line = <STDIN>) {
    $verifier->PRINT($line);
}
$verifier->CLOSE;
foreach my $signature ($verifier->signatures) {
    printf "%s %s %s\n", $signature->result, $signature->algorithm, $signature->domain;
    print STDERR $signature->result_detail, "\n";
}
