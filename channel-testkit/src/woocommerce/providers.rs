//! The Shipment Tracking extension's provider list and the way it matches and links a provider, from the
//! extension's `WC_Shipment_Tracking_Actions::get_providers()` and `get_formatted_tracking_item()`
//! (`includes/class-wc-shipment-tracking.php`), and the REST controller's `create_item`, which stores
//! `sanitize_title( tracking_provider )`. An unknown provider is not refused: it is shown with no name and
//! no link. The emulator is written from that source, not from the adapter.

/// `(country group, provider, link format)`; `%1$s` is the tracking number, `%2$s` the postcode.
pub(super) const PROVIDERS: &[(&str, &str, &str)] = &[
    // The `Global` group of the current doc's example ("List Shipment Tracking providers with the REST
    // API", woocommerce.com); the rest is a public copy of the extension, version unknown.
    ("Global", "Aramex", "https://www.aramex.com/track/track-results-new?ShipmentNumber=%1$s"),
    ("Australia", "Australia Post", "https://auspost.com.au/mypost/track/#/details/%1$s"),
    ("Australia", "Fastway Couriers", "https://www.fastway.com.au/tools/track/?l=%1$s"),
    ("Austria", "post.at", "https://www.post.at/sv/sendungsdetails?snr=%1$s"),
    ("Austria", "dhl.at", "https://www.dhl.at/content/at/de/express/sendungsverfolgung.html?brand=DHL&AWB=%1$s"),
    ("Austria", "DPD.at", "https://tracking.dpd.de/parcelstatus?locale=de_AT&query=%1$s"),
    (
        "Brazil",
        "Correios",
        "http://websro.correios.com.br/sro_bin/txect01$.QueryList?P_LINGUA=001&P_TIPO=001&P_COD_UNI=%1$s",
    ),
    ("Belgium", "bpost", "https://track.bpost.be/btr/web/#/search?itemCode=%1$s"),
    ("Canada", "Canada Post", "https://www.canadapost-postescanada.ca/track-reperage/en#/resultList?searchFor=%1$s"),
    ("Canada", "Purolator", "https://www.purolator.com/purolator/ship-track/tracking-summary.page?pin=%1$s"),
    ("Czech Republic", "PPL.cz", "https://www.ppl.cz/main2.aspx?cls=Package&idSearch=%1$s"),
    ("Czech Republic", "Česká pošta", "https://www.postaonline.cz/trackandtrace/-/zasilka/cislo?parcelNumbers=%1$s"),
    ("Czech Republic", "DHL.cz", "https://www.dhl.cz/cs/express/sledovani_zasilek.html?AWB=%1$s"),
    ("Czech Republic", "DPD.cz", "https://tracking.dpd.de/parcelstatus?locale=cs_CZ&query=%1$s"),
    ("Finland", "Itella", "https://www.posti.fi/itemtracking/posti/search_by_shipment_id?lang=en&ShipmentId=%1$s"),
    ("France", "Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code=%1$s"),
    (
        "Germany",
        "DHL Intraship (DE)",
        "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?lang=de&idc=%1$s&rfn=&extendedSearch=true",
    ),
    ("Germany", "Hermes", "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation/#%1$s"),
    (
        "Germany",
        "Deutsche Post DHL",
        "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?lang=de&idc=%1$s",
    ),
    (
        "Germany",
        "UPS Germany",
        "https://wwwapps.ups.com/WebTracking?sort_by=status&tracknums_displayed=1&TypeOfInquiryNumber=T&loc=de_DE&InquiryNumber1=%1$s",
    ),
    ("Germany", "DPD.de", "https://tracking.dpd.de/parcelstatus?query=%1$s&locale=en_DE"),
    ("Ireland", "DPD.ie", "https://dpd.ie/tracking?deviceType=5&consignmentNumber=%1$s"),
    ("Ireland", "An Post", "https://track.anpost.ie/TrackingResults.aspx?rtt=1&items=%1$s"),
    ("Italy", "BRT (Bartolini)", "https://as777.brt.it/vas/sped_det_show.hsm?referer=sped_numspe_par.htm&Nspediz=%1$s"),
    ("Italy", "DHL Express", "https://www.dhl.it/it/express/ricerca.html?AWB=%1$s&brand=DHL"),
    ("India", "DTDC", "https://www.dtdc.in/tracking/tracking_results.asp?Ttype=awb_no&strCnno=%1$s&TrkType2=awb_no"),
    ("Netherlands", "PostNL", "https://postnl.nl/tracktrace/?B=%1$s&P=%2$s&D=%3$s&T=C"),
    ("Netherlands", "DPD.NL", "https://tracking.dpd.de/status/en_US/parcel/%1$s"),
    (
        "Netherlands",
        "UPS Netherlands",
        "https://wwwapps.ups.com/WebTracking?sort_by=status&tracknums_displayed=1&TypeOfInquiryNumber=T&loc=nl_NL&InquiryNumber1=%1$s",
    ),
    ("New Zealand", "Courier Post", "https://trackandtrace.courierpost.co.nz/Search/%1$s"),
    ("New Zealand", "NZ Post", "https://www.nzpost.co.nz/tools/tracking?trackid=%1$s"),
    ("New Zealand", "Aramex", "https://www.aramex.co.nz/tools/track?l=%1$s"),
    ("New Zealand", "PBT Couriers", "http://www.pbt.com/nick/results.cfm?ticketNo=%1$s"),
    ("Poland", "InPost", "https://inpost.pl/sledzenie-przesylek?number=%1$s"),
    ("Poland", "DPD.PL", "https://tracktrace.dpd.com.pl/parcelDetails?p1=%1$s"),
    ("Poland", "Poczta Polska", "https://emonitoring.poczta-polska.pl/?numer=%1$s"),
    ("Romania", "Fan Courier", "https://www.fancourier.ro/awb-tracking/?xawb=%1$s"),
    ("Romania", "DPD Romania", "https://tracking.dpd.de/parcelstatus?query=%1$s&locale=ro_RO"),
    ("Romania", "Urgent Cargus", "https://app.urgentcargus.ro/Private/Tracking.aspx?CodBara=%1$s"),
    ("South African", "SAPO", "http://sms.postoffice.co.za/TrackingParcels/Parcel.aspx?id=%1$s"),
    ("South African", "Fastway", "https://fastway.co.za/our-services/track-your-parcel?l=%1$s"),
    ("Sweden", "PostNord Sverige AB", "https://portal.postnord.com/tracking/details/%1$s"),
    ("Sweden", "DHL.se", "https://www.dhl.com/se-sv/home/tracking.html?submit=1&tracking-id=%1$s"),
    ("Sweden", "Bring.se", "https://tracking.bring.se/tracking/%1$s"),
    ("Sweden", "UPS.se", "https://www.ups.com/track?loc=sv_SE&tracknum=%1$s&requester=WT/"),
    ("Sweden", "DB Schenker", "http://privpakportal.schenker.nu/TrackAndTrace/packagesearch.aspx?packageId=%1$s"),
    ("United Kingdom", "DHL", "https://www.dhl.com/content/g0/en/express/tracking.shtml?brand=DHL&AWB=%1$s"),
    ("United Kingdom", "DPD.co.uk", "https://www.dpd.co.uk/apps/tracking/?reference=%1$s#results"),
    ("United Kingdom", "DPD Local", "https://apis.track.dpdlocal.co.uk/v1/track?postcode=%2$s&parcel=%1$s"),
    ("United Kingdom", "EVRi", "https://www.evri.com/track/parcel/%1$s"),
    ("United Kingdom", "EVRi (international)", "https://international.evri.com/tracking/%1$s"),
    ("United Kingdom", "ParcelForce", "https://www.parcelforce.com/track-trace?trackNumber=%1$s"),
    ("United Kingdom", "Royal Mail", "https://www3.royalmail.com/track-your-item#/tracking-results/%1$s"),
    (
        "United Kingdom",
        "TNT Express (consignment)",
        "https://www.tnt.com/express/en_gb/site/shipping-tools/tracking.html?searchType=con&cons=%1$s",
    ),
    (
        "United Kingdom",
        "TNT Express (reference)",
        "https://www.tnt.com/express/en_gb/site/shipping-tools/tracking.html?searchType=ref&cons=%1$s",
    ),
    ("United Kingdom", "DHL Parcel UK", "https://track.dhlparcel.co.uk/?con=%1$s"),
    (
        "United States",
        "DHL US",
        "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id=%1$s",
    ),
    ("United States", "DHL eCommerce", "https://webtrack.dhlecs.com/orders?trackingNumber=%1$s"),
    ("United States", "Fedex", "https://www.fedex.com/apps/fedextrack/?action=track&action=track&tracknumbers=%1$s"),
    ("United States", "FedEx Sameday", "https://www.fedexsameday.com/fdx_dotracking_ua.aspx?tracknum=%1$s"),
    ("United States", "GlobalPost", "https://www.goglobalpost.com/track-detail/?t=%1$s"),
    ("United States", "OnTrac", "https://www.ontrac.com/tracking/?number=%1$s"),
    ("United States", "UPS", "https://www.ups.com/track?loc=en_US&tracknum=%1$s"),
    ("United States", "USPS", "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s"),
];

/// WordPress's `sanitize_title` as far as provider names need it: lower case, `.` and spaces to `-`,
/// other punctuation dropped, dashes collapsed and trimmed.
pub(super) fn sanitize_title(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        let c = if c == '.' || c.is_whitespace() { '-' } else { c };
        if c == '-' {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        } else if c.is_alphanumeric() || c == '_' {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// `get_formatted_tracking_item`: the provider name and link shown for a stored tracking item (`stored`
/// is the `sanitize_title`d `tracking_provider`). Unknown: both empty.
pub(super) fn formatted(stored: &str, number: &str, postcode: &str) -> (String, String) {
    match PROVIDERS.iter().find(|(_, name, _)| *name == stored || sanitize_title(name) == stored) {
        Some((_, name, format)) => {
            ((*name).to_owned(), format.replace("%1$s", number).replace("%2$s", postcode).replace("%3$s", ""))
        }
        None => (String::new(), String::new()),
    }
}

/// `GET …/shipment-trackings/providers`: `{country: {provider: link format}}`.
pub(super) fn providers_json() -> serde_json::Value {
    let mut groups = serde_json::Map::new();
    for (country, name, format) in PROVIDERS {
        let group = groups.entry((*country).to_owned()).or_insert_with(|| serde_json::json!({}));
        if let Some(group) = group.as_object_mut() {
            group.insert((*name).to_owned(), serde_json::Value::String((*format).to_owned()));
        }
    }
    serde_json::Value::Object(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_match_by_sanitized_title() {
        assert_eq!(sanitize_title("DPD.co.uk"), "dpd-co-uk");
        assert_eq!(sanitize_title("BRT (Bartolini)"), "brt-bartolini");
        assert_eq!(formatted("fedex", "1", "").0, "Fedex");
        assert_eq!(formatted("sapo", "RR1", "").1, "http://sms.postoffice.co.za/TrackingParcels/Parcel.aspx?id=RR1");
        assert_eq!(formatted("the-courier-guy", "1", ""), (String::new(), String::new()));
    }
}
